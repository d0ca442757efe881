/**
 * Wall-clock time in IANA time zones, with nothing but Intl: scheduled
 * sends at a local time (schedule_local) and do-not-disturb windows both
 * need "what instant is 09:00 in Asia/Shanghai on that day" and "what time
 * is it there now".
 */
export interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/** Formatters are costly to build; one per zone, kept (they hold no connection). */
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(tz, f);
  }
  return f;
}

export function isTimeZone(tz: string): boolean {
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

/** The wall clock in `tz` at `instant`. */
export function wallClockAt(instant: Date, tz: string): WallClock {
  const parts: Record<string, number> = {};
  for (const p of formatter(tz).formatToParts(instant)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return { year: parts.year, month: parts.month, day: parts.day, hour: parts.hour, minute: parts.minute, second: parts.second };
}

const asUtc = (w: WallClock) => Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);

/** How far `tz` is ahead of UTC at `instant`, in ms. */
export function offsetAt(instant: Date, tz: string): number {
  const whole = new Date(Math.floor(instant.getTime() / 1000) * 1000);
  return asUtc(wallClockAt(whole, tz)) - whole.getTime();
}

/**
 * The instant the wall clock in `tz` shows `w`. Two passes settle the offset
 * across a DST change; a time skipped by a spring-forward gap lands just
 * after the gap, an hour repeated in autumn takes its first occurrence.
 */
export function instantOf(w: WallClock, tz: string): Date {
  const naive = asUtc(w);
  let t = naive - offsetAt(new Date(naive), tz);
  const settled = offsetAt(new Date(t), tz);
  if (naive - settled !== t && offsetAt(new Date(naive - settled), tz) === settled) t = naive - settled;
  return new Date(t);
}

const LOCAL = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/;

/** Parses `2026-12-01T09:00[:00]` (no offset); null when malformed or not a real date. */
export function parseWallClock(s: string): WallClock | null {
  const m = LOCAL.exec(s);
  if (!m) return null;
  const w = { year: +m[1], month: +m[2], day: +m[3], hour: +m[4], minute: +m[5], second: m[6] ? +m[6] : 0 };
  const check = new Date(asUtc(w));
  if (
    check.getUTCFullYear() !== w.year ||
    check.getUTCMonth() + 1 !== w.month ||
    check.getUTCDate() !== w.day ||
    w.hour > 23 ||
    w.minute > 59 ||
    w.second > 59
  )
    return null;
  return w;
}

/** Minutes since local midnight of an `HH:MM` string, or null. */
export function parseClock(s: string): number | null {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(s);
  return m ? Number(m[1]) * 60 + Number(m[2]) : null;
}

/** The calendar day after `w` (time of day kept). */
export function nextDay(w: WallClock): WallClock {
  const d = new Date(Date.UTC(w.year, w.month - 1, w.day + 1));
  return { ...w, year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}
