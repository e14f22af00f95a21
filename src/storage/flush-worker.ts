/**
 * Entry point of a flush worker thread: encodes sealed buffers into Parquet and makes the files
 * durable, off the event loop that serves HTTP. Jobs run one at a time (the encoder owns one
 * scratch table); the main thread spreads jobs over workers.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ParquetEncoder } from '../duckdb/parquet-writer.js';
import type { FlushWorkerOptions, WorkerMessage } from './flush-pool.js';
import { NativeParquetEncoder } from './parquet/parquet-writer.js';
import { JobWriter, type FlushJob } from './write-job.js';

const port = parentPort;
if (port === null) throw new Error('flush-worker.js must run in a worker thread');
const options = workerData as FlushWorkerOptions;
const send = (message: WorkerMessage) => port.postMessage(message);

const encoder: ParquetEncoder =
  options.parquetWriter === 'duckdb'
    ? await (await import('../duckdb/parquet-writer.js')).DuckDBParquetEncoder.open(options.duckdbThreads)
    : new NativeParquetEncoder(`arc-ts version ${options.version}`);
const writer = new JobWriter(encoder);
let queue: Promise<void> = Promise.resolve();

port.on('message', (job: FlushJob) => {
  queue = queue.then(async () => {
    try {
      const report = await writer.write(job, (file) => send({ type: 'published', id: job.id, file }));
      send({ type: 'done', id: job.id, report });
    } catch (err) {
      const error = err as Error;
      send({ type: 'failed', id: job.id, error: error.message, code: (error as NodeJS.ErrnoException).code });
    }
  });
});
send({ type: 'ready' });
