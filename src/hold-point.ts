import fs from 'node:fs';
import path from 'node:path';

/**
 * Test-only pause points, so a test can force an interleaving (a compaction that read its files
 * before a delete, a delete that scanned before a compaction swapped, a query that took its
 * snapshot before a swap) instead of hoping for it. Off unless ARC_TEST_HOLD_DIR names a
 * directory; then a point is armed by creating `<dir>/<name>.arm`. The first process (server or
 * merge child, which inherits the environment) to reach an armed point takes the arm (unlink is
 * atomic), writes `<dir>/<name>.held` holding its pid, and waits — without blocking its event
 * loop — until `<dir>/<name>.go` exists; it removes both files and goes on. An unarmed point costs
 * one environment lookup.
 *
 * Points: `merge-written` (merge child: output written and fsynced, result not yet reported),
 * `rewrite-prepared` (delete/retention: files scanned and rewritten, nothing retired or
 * published), `query-snapshot` (query: files pinned, nothing read yet).
 */
export async function holdPoint(name: string): Promise<void> {
  const dir = process.env.ARC_TEST_HOLD_DIR;
  if (!dir) return;
  try {
    fs.unlinkSync(path.join(dir, `${name}.arm`));
  } catch {
    return; // not armed, or another process took it
  }
  const held = path.join(dir, `${name}.held`);
  const go = path.join(dir, `${name}.go`);
  fs.writeFileSync(held, String(process.pid));
  while (!fs.existsSync(go)) await new Promise((resolve) => setTimeout(resolve, 10));
  fs.rmSync(go, { force: true });
  fs.rmSync(held, { force: true });
}
