/**
 * Entry point of a flush worker thread: encodes sealed buffers into Parquet and makes the files
 * durable, off the event loop that serves HTTP. Jobs run one at a time (the encoder owns one
 * scratch table); the main thread spreads jobs over workers.
 */
import inspector from 'node:inspector/promises';
import { parentPort, workerData } from 'node:worker_threads';
import type { ParquetEncoder } from '../duckdb/parquet-writer.js';
import type { FlushWorkerOptions, ToWorker, WorkerMessage } from './flush-pool.js';
import { NativeParquetEncoder } from '../storage/parquet/parquet-writer.js';
import { JobWriter, type FlushJob } from '../storage/write-job.js';
import { lowerThreadPriority } from '../thread-priority.js';

const port = parentPort;
if (port === null) throw new Error('flush-worker.js must run in a worker thread');
const options = workerData as FlushWorkerOptions;
const send = (message: WorkerMessage) => port.postMessage(message);
lowerThreadPriority(options.nice);

const encoder: ParquetEncoder =
  options.parquetWriter === 'duckdb'
    ? await (await import('../duckdb/parquet-writer.js')).DuckDBParquetEncoder.open(options.duckdbThreads)
    : new NativeParquetEncoder(`arc-ts version ${options.version}`);
const writer = new JobWriter(encoder);
let queue: Promise<void> = Promise.resolve();

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'job':
      write(message.job);
      return;
    case 'profile-start':
      void startProfile(message.kind, message.intervalMicros).catch((err: Error) => send({ type: 'profile', profile: null, error: err.message }));
      return;
    case 'profile-stop':
      void stopProfile().then(
        (profile) => send({ type: 'profile', profile }),
        (err: Error) => send({ type: 'profile', profile: null, error: err.message }),
      );
      return;
  }
});

function write(job: FlushJob): void {
  queue = queue.then(async () => {
    try {
      const report = await writer.write(job, (file) => send({ type: 'published', id: job.id, file }));
      send({ type: 'done', id: job.id, report });
    } catch (err) {
      const error = err as Error;
      send({ type: 'failed', id: job.id, error: error.message, code: (error as NodeJS.ErrnoException).code });
    }
  });
}

/**
 * Heap samples every 32 KiB allocated, keeping the ones already collected: the profile then shows where
 * memory is allocated (churn), not only what is still alive when it stops.
 */
const SAMPLING_OPTIONS = { samplingInterval: 32768, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true };

/** `arc profile` samples this thread through its own inspector session. */
let session: inspector.Session | null = null;
let profiling: 'cpu' | 'heap' | null = null;

async function startProfile(kind: 'cpu' | 'heap', intervalMicros: number): Promise<void> {
  session ??= new inspector.Session();
  session.connect();
  profiling = kind;
  if (kind === 'cpu') {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: intervalMicros });
    await session.post('Profiler.start');
  } else {
    await session.post('HeapProfiler.enable');
    await session.post('HeapProfiler.startSampling', SAMPLING_OPTIONS);
  }
}

async function stopProfile(): Promise<object> {
  if (session === null || profiling === null) throw new Error('no profile is running');
  try {
    if (profiling === 'cpu') return (await session.post('Profiler.stop')).profile;
    return (await session.post('HeapProfiler.stopSampling')).profile;
  } finally {
    profiling = null;
    session.disconnect();
  }
}

send({ type: 'ready' });
