/**
 * Entry point of a flush worker thread: encodes sealed buffers into Parquet and makes the files
 * durable, off the event loop that serves HTTP. Jobs run one at a time (the encoder owns one
 * scratch table); the main thread spreads jobs over workers.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { DuckDBParquetEncoder } from '../duckdb/parquet-writer.js';
import { JobWriter, type FlushJob } from './write-job.js';
import type { WorkerMessage } from './flush-pool.js';

interface WorkerOptions {
  duckdbThreads: number;
}

const port = parentPort;
if (port === null) throw new Error('flush-worker.js must run in a worker thread');
const options = workerData as WorkerOptions;
const send = (message: WorkerMessage) => port.postMessage(message);

const encoder = await DuckDBParquetEncoder.open(options.duckdbThreads);
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
