import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LoopTurns } from './loop-turns.js';

function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

test('turns are not capped while no connection arrives', () => {
  const turns = new LoopTurns(1);
  assert.equal(turns.admit(), null);
  spin(3);
  assert.equal(turns.admit(), null, 'past the budget, but nobody is waiting to be accepted');
});

test('after a connection, a request past the budget waits for a later turn, in arrival order', async () => {
  const turns = new LoopTurns(1);
  turns.connectionAccepted();
  assert.equal(turns.admit(), null, 'the first request of a turn runs at once');
  spin(2);
  const order: string[] = [];
  setImmediate(() => order.push('already queued for the next turn'));
  const first = turns.admit();
  const second = turns.admit();
  assert.notEqual(first, null);
  assert.notEqual(second, null);
  void first!.then(() => order.push('first waiting request'));
  void second!.then(() => order.push('second waiting request'));
  await Promise.all([first, second]);
  assert.deepEqual(order, ['already queued for the next turn', 'first waiting request', 'second waiting request']);
});

test('a waiting request that finds the next turn spent too waits again, and always runs eventually', async () => {
  const turns = new LoopTurns(1);
  turns.connectionAccepted();
  assert.equal(turns.admit(), null);
  spin(2);
  const waits = Array.from({ length: 5 }, () => turns.admit());
  // Counts turns of the loop: one increment per check phase.
  let turn = 0;
  let counting = true;
  const tick = (): void => {
    turn++;
    if (counting) setImmediate(tick);
  };
  setImmediate(tick);
  const ran: Array<{ request: number; turn: number }> = [];
  // Each waiting request uses 2 ms, more than a turn's budget: at most one of them runs per turn.
  const done = waits.map((wait, request) => wait!.then(() => (ran.push({ request, turn }), spin(2))));
  await Promise.all(done);
  counting = false;
  assert.deepEqual(ran.map((r) => r.request), [0, 1, 2, 3, 4], 'in arrival order');
  for (let i = 1; i < ran.length; i++) assert.ok(ran[i]!.turn > ran[i - 1]!.turn, `one per turn: ${JSON.stringify(ran)}`);
});

test('budget 0 never caps a turn', () => {
  const turns = new LoopTurns(0);
  turns.connectionAccepted();
  spin(2);
  assert.equal(turns.admit(), null);
});
