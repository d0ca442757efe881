import { dndEnd, type DndWindow } from './dnd.js';

/**
 * The rules of a user's preferences, as a pure function of the preferences,
 * the delivery and the time (injected, so tests can stand at 23:30 in
 * Shanghai without waiting for it):
 *  - the in-app inbox always stores (channel 'app' is always sent);
 *  - a channel the user turned off for this type (or for every type, '*')
 *    is skipped, whatever the priority: the user said no;
 *  - urgent goes through do-not-disturb and mute;
 *  - otherwise mute_until and the do-not-disturb window (./dnd.ts) hold
 *    the delivery until they end: delayed, not dropped.
 */
export interface Preferences extends DndWindow {
  /** channels allowed per notification type; '*' applies to types not listed; absent type = every channel */
  channels: Record<string, string[]>;
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
