import { setImmediate as nextTurn } from 'node:timers/promises';

/** Turns stay capped this long after a connection was accepted. */
const ACCEPT_WINDOW_MS = 100;

/**
 * Caps the request work one turn of the event loop does, so that a busy server still accepts new
 * connections promptly (#17).
 *
 * libuv as Node 20 ships it (1.46; seen with strace) accepts one connection per turn of the loop, and a turn runs
 * every request whose bytes arrived since the last one. With 64 connections each sending 1000-row
 * writes, one turn was 10–50 ms of decoding, so the connections of clients that had just connected
 * (all of them after a restart) were accepted one per turn: their first requests waited in the
 * kernel for up to 1.5 s although every request the server saw was answered in about a millisecond.
 *
 * So while connections are arriving (one was accepted in the last ACCEPT_WINDOW_MS), a request that
 * finds this turn's budget spent waits for the next turn (setImmediate): the loop then polls,
 * accepting the next connection and reading what arrived, before the waiting requests run, in the
 * order they came. The rest of the time turns are not capped: with every client connected, shorter
 * turns only cost throughput (0.87× at 64 connections with a 1 ms cap on every turn).
 */
export class LoopTurns {
  /** When the current turn's first capped write started; -1 before any. */
  private turnStartedAt = -1;
  private resetPending = false;
  private readonly endTurn = (): void => {
    this.turnStartedAt = -1;
    this.resetPending = false;
  };

  /** Until when turns are capped: a little after the last accepted connection. */
  private acceptingUntil = -1;

  constructor(private readonly budgetMs: number) {}

  /** Call on every accepted connection: more may be waiting in the kernel's accept queue. */
  connectionAccepted(): void {
    if (this.budgetMs > 0) this.acceptingUntil = performance.now() + ACCEPT_WINDOW_MS;
  }

  /** Null when the request may run now; otherwise a promise that resolves in a turn with budget left. */
  admit(): Promise<void> | null {
    const now = performance.now();
    if (now > this.acceptingUntil) return null;
    if (this.turnStartedAt < 0) this.startTurn(now);
    return now - this.turnStartedAt < this.budgetMs ? null : this.waitForTurn();
  }

  private startTurn(now: number): void {
    this.turnStartedAt = now;
    if (!this.resetPending) {
      this.resetPending = true;
      // Runs in this turn's check phase, before the requests that were sent to the next turn.
      setImmediate(this.endTurn);
    }
  }

  private async waitForTurn(): Promise<void> {
    for (;;) {
      await nextTurn();
      const now = performance.now();
      if (now > this.acceptingUntil) return;
      if (this.turnStartedAt < 0) this.startTurn(now);
      if (now - this.turnStartedAt < this.budgetMs) return;
    }
  }
}
