import { instantOf, nextDay, parseClock, wallClockAt } from '../time/zoned-time.js';

/**
 * Do-not-disturb: a daily window of wall-clock time in the user's time zone
 * ("22:00"–"08:00", crossing midnight or not) during which deliveries other
 * than urgent ones wait. A window whose start equals its end is no window;
 * a user without a time zone is in UTC.
 */
export interface DndWindow {
  dnd_start: string | null;
  dnd_end: string | null;
  /** IANA time zone; UTC when null */
  timezone: string | null;
}

/** When the do-not-disturb window holding `now` ends, or null when `now` is outside it. */
export function dndEnd(p: DndWindow, now: number): number | null {
  const start = p.dnd_start ? parseClock(p.dnd_start) : null;
  const end = p.dnd_end ? parseClock(p.dnd_end) : null;
  if (start === null || end === null || start === end) return null;
  const tz = p.timezone ?? 'UTC';
  const local = wallClockAt(new Date(now), tz);
  const minute = local.hour * 60 + local.minute;
  const inside = start < end ? minute >= start && minute < end : minute >= start || minute < end;
  if (!inside) return null;
  const endToday = { ...local, hour: Math.floor(end / 60), minute: end % 60, second: 0 };
  // after midnight in a crossing window (or any same-day window), the end is today; before midnight it is tomorrow
  const endsToday = start < end || minute < end;
  return instantOf(endsToday ? endToday : nextDay(endToday), tz).getTime();
}
