import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CronSchedule } from './cron.js';

const local = (y: number, mo: number, d: number, h = 0, mi = 0) => new Date(y, mo - 1, d, h, mi);

test("Arc's defaults: hourly at :05, daily at 03:00", () => {
  const hourly = CronSchedule.parse('5 * * * *');
  assert.deepEqual(hourly.next(local(2026, 3, 1, 10, 4)), local(2026, 3, 1, 10, 5));
  assert.deepEqual(hourly.next(local(2026, 3, 1, 10, 5)), local(2026, 3, 1, 11, 5), 'strictly after');
  const daily = CronSchedule.parse('0 3 * * *');
  assert.deepEqual(daily.next(local(2026, 12, 31, 3, 0)), local(2027, 1, 1, 3, 0));
});

test('lists, ranges, steps, weekdays (7 = Sunday) and the either-day rule', () => {
  assert.deepEqual(CronSchedule.parse('*/15 * * * *').next(local(2026, 3, 1, 10, 31)), local(2026, 3, 1, 10, 45));
  assert.deepEqual(CronSchedule.parse('0 9-17/4 * * *').next(local(2026, 3, 1, 13, 0)), local(2026, 3, 1, 17, 0));
  assert.deepEqual(CronSchedule.parse('30 2 * * 7').next(local(2026, 3, 2)), local(2026, 3, 8, 2, 30), '2026-03-08 is a Sunday');
  assert.deepEqual(CronSchedule.parse('0 0 1,15 * *').next(local(2026, 3, 2)), local(2026, 3, 15));
  // Day 13 or a Friday, whichever comes first: 2026-03-06 is a Friday.
  assert.deepEqual(CronSchedule.parse('0 0 13 * 5').next(local(2026, 3, 2)), local(2026, 3, 6));
  assert.deepEqual(CronSchedule.parse('0 0 29 2 *').next(local(2026, 3, 1)), local(2028, 2, 29));
});

test('bad schedules are refused with the field named', () => {
  assert.throws(() => CronSchedule.parse('5 * * *'), /must have 5 fields/);
  assert.throws(() => CronSchedule.parse('@hourly'), /must have 5 fields/);
  assert.throws(() => CronSchedule.parse('60 * * * *'), /minute field "60" is outside 0-59/);
  assert.throws(() => CronSchedule.parse('* 25 * * *'), /hour field/);
  assert.throws(() => CronSchedule.parse('* * * * mon'), /day-of-week field "mon"/);
  assert.throws(() => CronSchedule.parse('*/0 * * * *'), /step below 1/);
  assert.throws(() => CronSchedule.parse('0 0 31 2 *').next(local(2026, 1, 1)), /never matches/);
});
