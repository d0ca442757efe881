import { instantOf, parseClock, wallClockAt, nextDay } from '../time/zoned-time.js';

/**
 * The rules of a user's preferences, as a pure function of the preferences,
 * the delivery and the time (injected, so tests can stand at 23:30 in
 * Shanghai without waiting for it):
 *  - the in-app inbox always stores (channel 'app' is always sent);
 *  - a channel the user turned off for this type (or for every type, '*')
 *    is skipped, whatever the priority: the user said no;
 *  - urgent goes through do-not-disturb and mute;
 *  - otherwise mute_until and the do-not-disturb window (which may cross
 *    midnight: 22:00–08:00) hold the delivery until they end: delayed, not
 *    dropped. A window whose start equals its end is no window.
 */
export interface Preferences {
  /** channels allowed per notification type; '*' applies to types not listed; absent type = every channel */
  channels: Record<string, string[]>;
  dnd_start: string | null;
  dnd_end: string | null;
  /** the user's time zone for the window (IANA); UTC when unknown */
  timezone: string | null;
  mute_until: Date | null;
}

export const NO_PREFERENCES: Preferences = { channels: {}, dnd_start: null, dnd_end: null, timezone: null, mute_until: null };

export interface DeliveryFacts {
  channel: string;
  type: string;
  priority: string;
}

export type Decision =
  | { action: 'send' }
  | { action: 'skip'; reason: 'channel_off' }
  | { action: 'delay'; until: number; reason: 'do_not_disturb' | 'muted' };

/** When the do-not-disturb window holding `now` ends, or null when `now` is outside it. */
export function dndEnd(p: Pick<Preferences, 'dnd_start' | 'dnd_end' | 'timezone'>, now: number): number | null {
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

export function decide(p: Preferences, d: DeliveryFacts, now: number): Decision {
  if (d.channel === 'app') return { action: 'send' };
  const allowed = p.channels[d.type] ?? p.channels['*'];
  if (allowed && !allowed.includes(d.channel)) return { action: 'skip', reason: 'channel_off' };
  if (d.priority === 'urgent') return { action: 'send' };
  // mute and the window may follow one another (muted until 23:00, window 22:00–08:00): hold until both are over
  let at = now;
  let reason: 'do_not_disturb' | 'muted' | null = null;
  for (let i = 0; i < 4; i++) {
    const muted = p.mute_until && p.mute_until.getTime() > at ? p.mute_until.getTime() : null;
    if (muted) {
      at = muted;
      reason ??= 'muted';
      continue;
    }
    const windowEnd = dndEnd(p, at);
    if (windowEnd === null) break;
    at = windowEnd;
    reason ??= 'do_not_disturb';
  }
  return reason ? { action: 'delay', until: at, reason } : { action: 'send' };
}
