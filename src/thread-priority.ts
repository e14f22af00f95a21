import os from 'node:os';

/**
 * Lowers the calling thread's CPU priority to `nice` (0 leaves it). Background threads (decode and
 * flush workers) call it so the event loop that acknowledges writes and answers `/health` gets a
 * core first on a small machine. Only on Linux, where nice is a property of the thread: elsewhere
 * setPriority(0) would lower the whole process, the event loop included, so it does nothing.
 */
export function lowerThreadPriority(nice: number): void {
  if (nice <= 0 || process.platform !== 'linux') return;
  try {
    os.setPriority(0, Math.max(os.getPriority(0), Math.min(19, nice)));
  } catch {
    // A sandbox that forbids it leaves the thread at its priority: slower tails, nothing wrong.
  }
}
