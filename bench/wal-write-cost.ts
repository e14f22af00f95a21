/**
 * What one write-ahead-log batch costs the disk, in isolation: a 48 KB write to a segment opened with
 * O_DSYNC (as wal.sync_mode = fdatasync opens it), appended at the end of the file (what the log does
 * today) or over bytes already written (what a preallocated or recycled segment would do).
 *   node dist/bench/wal-write-cost.js [directory] [writes]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const directory = fs.mkdtempSync(path.join(process.argv[2] ?? os.tmpdir(), 'arc-wal-cost-'));
const writes = Number(process.argv[3] ?? 400);
const chunk = Buffer.alloc(48 * 1024, 7);
const { O_WRONLY, O_CREAT, O_DSYNC } = fs.constants;

function measure(name: string, prepare: (file: string) => void): void {
  const file = path.join(directory, name);
  prepare(file);
  const fd = fs.openSync(file, O_WRONLY | O_CREAT | O_DSYNC);
  const ms: number[] = [];
  for (let i = 0; i < writes; i++) {
    const started = performance.now();
    fs.writeSync(fd, chunk, 0, chunk.length, i * chunk.length);
    ms.push(performance.now() - started);
  }
  fs.closeSync(fd);
  fs.rmSync(file);
  ms.sort((a, b) => a - b);
  const at = (q: number) => ms[Math.min(ms.length - 1, Math.floor(ms.length * q))]!.toFixed(3);
  process.stdout.write(`${name.padEnd(11)} O_DSYNC write of 48 KB: p50 ${at(0.5)} ms  p90 ${at(0.9)} ms  p99 ${at(0.99)} ms  (${writes} writes)\n`);
}

try {
  measure('append', () => undefined);
  measure('overwrite', (file) => {
    const zeros = Buffer.alloc(writes * chunk.length);
    fs.writeFileSync(file, zeros);
    const fd = fs.openSync(file, 'r+');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
  });
} finally {
  fs.rmSync(directory, { recursive: true, force: true });
}
