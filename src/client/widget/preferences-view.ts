/// <reference lib="dom" />
import type { Preferences, PreferencesPut } from '../api-types.js';
import type { HeraldClient } from '../herald-client.js';
import { h } from './dom.js';
import { fromLocalInput, toLocalInput } from './snooze-times.js';
import type { Strings } from './strings.js';

const TYPES = ['*', 'info', 'success', 'warning', 'error', 'alert', 'system'];

/**
 * The user's preferences as a form: per type (and `*`, every type) either
 * the default or an own set of channels; a do-not-disturb window; a mute.
 * Saving sends every field, so what the form shows is what is stored.
 */
export function preferencesView(client: HeraldClient, s: Strings): HTMLElement {
  const status = h('p', { class: 'status', role: 'status' }, s.loading);
  const box = h('form', { class: 'prefs', 'data-view': 'preferences' }, status);
  client.preferences().then(
    (p) => fill(box, status, client, s, p),
    (err: Error) => (status.textContent = `${s.failed}: ${err.message}`),
  );
  return box;
}

function fill(box: HTMLElement, status: HTMLElement, client: HeraldClient, s: Strings, p: Preferences): void {
  const input = (props: Record<string, string | boolean>) => h('input', props) as HTMLInputElement;
  const rows = TYPES.map((type) => {
    const own = input({ type: 'checkbox', 'data-type': type, checked: type in p.channels });
    const boxes = p.available_channels.map((ch) =>
      input({ type: 'checkbox', 'data-channel': ch, checked: (p.channels[type] ?? []).includes(ch), disabled: !(type in p.channels) }),
    );
    own.addEventListener('change', () => boxes.forEach((b) => (b.disabled = !own.checked)));
    const el = h(
      'fieldset',
      { 'data-row': type },
      h('legend', {}, type === '*' ? s.anyType : (s.types[type] ?? type)),
      h('label', {}, own, s.custom),
      h('div', {}, ...boxes.map((b) => h('label', {}, b, s.channelNames[b.dataset.channel!] ?? b.dataset.channel!))),
    );
    return { type, own, boxes, el };
  });
  const dnd = p.do_not_disturb;
  const dndOn = input({ type: 'checkbox', name: 'dnd', checked: dnd.enabled });
  const start = input({ type: 'time', name: 'dnd-start', value: dnd.start ?? '22:00' });
  const end = input({ type: 'time', name: 'dnd-end', value: dnd.end ?? '08:00' });
  const zone = input({ type: 'text', name: 'timezone', value: dnd.timezone || Intl.DateTimeFormat().resolvedOptions().timeZone, size: '16' });
  const mute = input({ type: 'datetime-local', name: 'mute-until', value: p.mute_until ? toLocalInput(new Date(p.mute_until)) : '' });
  status.textContent = '';
  box.replaceChildren(
    h('fieldset', {}, h('legend', {}, s.channels), ...rows.map((r) => r.el)),
    h(
      'fieldset',
      {},
      h('legend', {}, s.dnd),
      h('label', {}, dndOn, s.dnd),
      h('label', {}, s.from, start),
      h('label', {}, s.to, end),
      h('label', {}, s.timezone, zone),
    ),
    h('label', {}, s.muteUntil, mute),
    h('div', {}, h('button', { type: 'submit', class: 'primary' }, s.save), ' ', status),
  );
  box.onsubmit = (ev) => {
    ev.preventDefault();
    const channels: Record<string, string[]> = {};
    for (const r of rows) if (r.own.checked) channels[r.type] = r.boxes.filter((b) => b.checked).map((b) => b.dataset.channel!);
    const mutedUntil = fromLocalInput(mute.value);
    const body: PreferencesPut = {
      channels: channels as PreferencesPut['channels'],
      do_not_disturb: dndOn.checked ? { enabled: true, start: start.value, end: end.value, timezone: zone.value } : { enabled: false },
      mute_until: mutedUntil ? mutedUntil.toISOString() : null,
    };
    status.textContent = '…';
    client.setPreferences(body).then(
      () => (status.textContent = s.saved),
      (err: Error) => (status.textContent = err.message),
    );
  };
}
