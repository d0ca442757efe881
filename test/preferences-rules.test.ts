import { describe, expect, test } from 'vitest';
import { dndEnd } from '../src/domain/preferences/dnd.js';
import { NO_PREFERENCES, decide, type Preferences } from '../src/domain/preferences/rules.js';

/** Shanghai is UTC+8 all year: 22:00 there is 14:00Z, 08:00 is 00:00Z. */
const night: Preferences = { ...NO_PREFERENCES, dnd_start: '22:00', dnd_end: '08:00', timezone: 'Asia/Shanghai' };
const at = (iso: string) => Date.parse(iso);
const email = (priority = 'normal', type = 'info') => ({ channel: 'email', type, priority });

describe('do-not-disturb crossing midnight in another time zone (clock injected)', () => {
  test('before midnight there, a delivery waits until 08:00 the next morning there', () => {
    expect(decide(night, email(), at('2026-11-22T15:30:00Z'))).toEqual({ action: 'delay', until: at('2026-11-23T00:00:00Z'), reason: 'do_not_disturb' });
  });
  test('after midnight there, it waits until 08:00 the same morning', () => {
    expect(decide(night, email(), at('2026-11-22T23:59:00Z'))).toEqual({ action: 'delay', until: at('2026-11-23T00:00:00Z'), reason: 'do_not_disturb' });
  });
  test('the window starts at 22:00 and ends at 08:00 sharp', () => {
    expect(decide(night, email(), at('2026-11-22T13:59:59Z'))).toEqual({ action: 'send' });
    expect(decide(night, email(), at('2026-11-22T14:00:00Z'))).toMatchObject({ action: 'delay' });
    expect(decide(night, email(), at('2026-11-23T00:00:00Z'))).toEqual({ action: 'send' });
  });
  test('the same UTC instant is inside the window in Shanghai and outside it in London', () => {
    const london = { ...night, timezone: 'Europe/London' };
    expect(decide(night, email(), at('2026-11-22T16:00:00Z')).action).toBe('delay');
    expect(decide(london, email(), at('2026-11-22T16:00:00Z')).action).toBe('send');
  });
  test('urgent goes through; the in-app inbox always stores', () => {
    expect(decide(night, email('urgent'), at('2026-11-22T15:30:00Z'))).toEqual({ action: 'send' });
    expect(decide(night, { channel: 'app', type: 'info', priority: 'low' }, at('2026-11-22T15:30:00Z'))).toEqual({ action: 'send' });
  });
  test('a window across a DST change ends at the local wall-clock time (New York, spring forward)', () => {
    const ny = { ...NO_PREFERENCES, dnd_start: '22:00', dnd_end: '08:00', timezone: 'America/New_York' };
    // 2026-03-07 23:00 EST (UTC-5) → clocks go forward at 02:00 → 08:00 EDT (UTC-4) is 12:00Z
    expect(dndEnd(ny, at('2026-03-08T04:00:00Z'))).toBe(at('2026-03-08T12:00:00Z'));
  });
  test('a same-day window, and a window whose start equals its end (none)', () => {
    const lunch = { ...NO_PREFERENCES, dnd_start: '12:00', dnd_end: '14:00', timezone: 'UTC' };
    expect(decide(lunch, email(), at('2026-11-22T12:30:00Z'))).toEqual({ action: 'delay', until: at('2026-11-22T14:00:00Z'), reason: 'do_not_disturb' });
    expect(decide(lunch, email(), at('2026-11-22T23:00:00Z'))).toEqual({ action: 'send' });
    expect(decide({ ...lunch, dnd_end: '12:00' }, email(), at('2026-11-22T12:30:00Z'))).toEqual({ action: 'send' });
  });
  test('no time zone means UTC', () => {
    expect(decide({ ...night, timezone: null }, email(), at('2026-11-22T23:00:00Z'))).toEqual({ action: 'delay', until: at('2026-11-23T08:00:00Z'), reason: 'do_not_disturb' });
  });
});

describe('channels per type', () => {
  const prefs: Preferences = { ...NO_PREFERENCES, channels: { info: ['app'], alert: ['app', 'sms', 'email'], '*': ['app', 'email'] } };
  test('a channel turned off for the type is skipped, even urgent', () => {
    expect(decide(prefs, email('normal', 'info'), 0)).toEqual({ action: 'skip', reason: 'channel_off' });
    expect(decide(prefs, email('urgent', 'info'), 0)).toEqual({ action: 'skip', reason: 'channel_off' });
    expect(decide(prefs, { channel: 'sms', type: 'alert', priority: 'normal' }, 0)).toEqual({ action: 'send' });
  });
  test("'*' covers the types not listed; no rule at all allows every channel", () => {
    expect(decide(prefs, email('normal', 'warning'), 0)).toEqual({ action: 'send' });
    expect(decide(prefs, { channel: 'sms', type: 'warning', priority: 'normal' }, 0)).toEqual({ action: 'skip', reason: 'channel_off' });
    expect(decide(NO_PREFERENCES, { channel: 'push', type: 'system', priority: 'low' }, 0)).toEqual({ action: 'send' });
  });
});

describe('mute_until', () => {
  test('holds everything but urgent until it ends', () => {
    const muted = { ...NO_PREFERENCES, mute_until: new Date('2026-11-22T18:00:00Z') };
    expect(decide(muted, email(), at('2026-11-22T10:00:00Z'))).toEqual({ action: 'delay', until: at('2026-11-22T18:00:00Z'), reason: 'muted' });
    expect(decide(muted, email('urgent'), at('2026-11-22T10:00:00Z'))).toEqual({ action: 'send' });
    expect(decide(muted, email(), at('2026-11-22T18:00:00Z'))).toEqual({ action: 'send' });
  });
  test('a mute ending inside the night window holds until the window ends too', () => {
    const both = { ...night, mute_until: new Date('2026-11-22T15:00:00Z') }; // 23:00 in Shanghai
    expect(decide(both, email(), at('2026-11-22T10:00:00Z'))).toEqual({ action: 'delay', until: at('2026-11-23T00:00:00Z'), reason: 'muted' });
  });
});
