import { spawn, type ChildProcess } from 'node:child_process';
import type { MergeJob, MergeResult } from './merge-process.js';

const SCRIPT = new URL('./merge-process.js', import.meta.url);

/** A merge running in its child process; `kill` stops it (its temporary output is then left for the caller to remove). */
export interface RunningMerge {
  result: Promise<MergeResult>;
  kill(): void;
}

/**
 * Starts `merge-process.js` for one job. Its stdin stays open for the child's whole life: when
 * this process dies (even by kill -9) the pipe closes and the child stops, so no orphan keeps
 * writing an output nobody will publish.
 */
export function startMerge(job: MergeJob): RunningMerge {
  const child: ChildProcess = spawn(process.execPath, [SCRIPT.pathname], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    if (stderr.length > 8192) stderr = stderr.slice(-8192);
  });
  child.stdin!.on('error', () => undefined); // the child may exit before reading (killed)
  child.stdin!.write(`${JSON.stringify(job)}\n`);
  const result = new Promise<MergeResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      if (line) {
        const answer = JSON.parse(line) as { ok: true; result: MergeResult } | { ok: false; error: string };
        if (answer.ok) resolve(answer.result);
        else reject(new Error(answer.error));
        return;
      }
      reject(new Error(`merge process ended without a result (${signal ? `signal ${signal}` : `exit code ${code}`})${stderr ? `: ${stderr.trim().split('\n').slice(-3).join(' ')}` : ''}`));
    });
  });
  return {
    result,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
