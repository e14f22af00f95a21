/**
 * Five-field cron schedules (`minute hour day-of-month month day-of-week`), as Arc's compaction
 * schedulers take them: numbers, `*`, lists `a,b`, ranges `a-b`, steps `*\/n` and `a-b/n`;
 * day-of-week 0-7 (0 and 7 are Sunday); evaluated in the server's local time zone. When both
 * day fields are restricted a day matches if either does (classic cron). No `@hourly` descriptors.
 */
export class CronSchedule {
  private constructor(
    readonly text: string,
    private readonly minutes: Set<number>,
    private readonly hours: Set<number>,
    private readonly days: Set<number>,
    private readonly months: Set<number>,
    private readonly weekdays: Set<number>,
    private readonly daysRestricted: boolean,
    private readonly weekdaysRestricted: boolean,
  ) {}

  /** Parses a schedule or throws an Error naming the bad field. */
  static parse(text: string): CronSchedule {
    const fields = text.trim().split(/\s+/);
    if (fields.length !== 5 || fields[0] === '') throw new Error(`cron schedule ${JSON.stringify(text)} must have 5 fields (minute hour day-of-month month day-of-week)`);
    const [m, h, dom, mon, dow] = fields as [string, string, string, string, string];
    const weekdays = field(dow, 0, 7, 'day-of-week', text);
    if (weekdays.has(7)) {
      weekdays.delete(7);
      weekdays.add(0);
    }
    return new CronSchedule(
      text.trim(),
      field(m, 0, 59, 'minute', text),
      field(h, 0, 23, 'hour', text),
      field(dom, 1, 31, 'day-of-month', text),
      field(mon, 1, 12, 'month', text),
      weekdays,
      !dom.startsWith('*'),
      !dow.startsWith('*'),
    );
  }

  /** The first matching minute strictly after `after`. */
  next(after: Date): Date {
    const t = new Date(after.getTime());
    t.setSeconds(0, 0);
    t.setMinutes(t.getMinutes() + 1);
    // Five years of minutes bounds the search (a schedule such as "0 0 31 2 *" never matches).
    const limit = after.getTime() + 5 * 366 * 24 * 3600 * 1000;
    while (t.getTime() <= limit) {
      if (!this.months.has(t.getMonth() + 1)) {
        t.setMonth(t.getMonth() + 1, 1);
        t.setHours(0, 0, 0, 0);
        continue;
      }
      if (!this.dayMatches(t)) {
        t.setDate(t.getDate() + 1);
        t.setHours(0, 0, 0, 0);
        continue;
      }
      if (!this.hours.has(t.getHours())) {
        t.setHours(t.getHours() + 1, 0, 0, 0);
        continue;
      }
      if (!this.minutes.has(t.getMinutes())) {
        t.setMinutes(t.getMinutes() + 1, 0, 0);
        continue;
      }
      return t;
    }
    throw new Error(`cron schedule ${JSON.stringify(this.text)} never matches`);
  }

  private dayMatches(t: Date): boolean {
    const dom = this.days.has(t.getDate());
    const dow = this.weekdays.has(t.getDay());
    if (this.daysRestricted && this.weekdaysRestricted) return dom || dow;
    if (this.daysRestricted) return dom;
    if (this.weekdaysRestricted) return dow;
    return true;
  }
}

function field(text: string, min: number, max: number, name: string, schedule: string): Set<number> {
  const out = new Set<number>();
  const bad = (why: string) => new Error(`cron schedule ${JSON.stringify(schedule)}: ${name} field ${JSON.stringify(text)} ${why}`);
  for (const part of text.split(',')) {
    const match = /^(\*|\d+(?:-\d+)?)(?:\/(\d+))?$/.exec(part);
    if (!match) throw bad('is not a number, range, list, step or *');
    let lo = min;
    let hi = max;
    if (match[1] !== '*') {
      const [a, b] = match[1]!.split('-').map(Number) as [number, number | undefined];
      lo = a;
      hi = b ?? (match[2] ? max : a);
    }
    const step = match[2] ? Number(match[2]) : 1;
    if (lo < min || hi > max || lo > hi) throw bad(`is outside ${min}-${max}`);
    if (step < 1) throw bad('has a step below 1');
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}
