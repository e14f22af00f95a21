import inspector from 'node:inspector/promises';
import type { FlushPool } from '../flush/flush-pool.js';

/** How long the workers get to hand over their profiles once the recording time is up. */
const WORKER_STOP_WAIT_MS = 15_000;

export type ProfileKind = 'cpu' | 'heap';

export interface ThreadProfile {
  name: string;
  /** A V8 CPU profile (.cpuprofile) or sampling heap profile (.heapprofile). */
  profile: object;
}

/**
 * Heap samples every 32 KiB allocated, keeping the ones already collected: the profile then shows where
 * memory is allocated (churn), not only what is still alive when it stops.
 */
const SAMPLING_OPTIONS = { samplingInterval: 32768, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true };

/** CPU samples every 500 µs: fine enough to see sub-millisecond stages over a few seconds. */
const CPU_INTERVAL_MICROS = 500;

/**
 * Profiles the running server, without a restart, through the inspector of each thread: the main
 * thread (HTTP, decoding, buffers) and every flush worker (sorting, Parquet encoding, file I/O).
 * One profile at a time.
 */
export class Profiler {
  private running = false;

  constructor(private readonly flushPool: FlushPool) {}

  get busy(): boolean {
    return this.running;
  }

  /** Threads whose profile could not be collected are named in `missing`, with why, instead of failing the whole capture. */
  async capture(kind: ProfileKind, seconds: number): Promise<{ threads: ThreadProfile[]; missing: Array<{ name: string; reason: string }> }> {
    if (this.running) throw new Error('a profile is already being recorded');
    this.running = true;
    const session = new inspector.Session();
    session.connect();
    try {
      if (kind === 'cpu') {
        await session.post('Profiler.enable');
        await session.post('Profiler.setSamplingInterval', { interval: CPU_INTERVAL_MICROS });
        await session.post('Profiler.start');
      } else {
        await session.post('HeapProfiler.enable');
        await session.post('HeapProfiler.startSampling', SAMPLING_OPTIONS);
      }
      const stopWorkers = this.flushPool.startProfiles(kind, CPU_INTERVAL_MICROS);
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
      const main =
        kind === 'cpu' ? (await session.post('Profiler.stop')).profile : (await session.post('HeapProfiler.stopSampling')).profile;
      const workers = await stopWorkers(WORKER_STOP_WAIT_MS);
      return { threads: [{ name: 'main', profile: main }, ...workers.profiles], missing: workers.missing };
    } finally {
      session.disconnect();
      this.running = false;
    }
  }
}
