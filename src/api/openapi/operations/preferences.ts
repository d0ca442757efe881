import { CHANNELS } from '../../../domain/sending/input.js';
import { preferencesSchema } from '../../../domain/preferences/preferences.js';
import type { Operation } from '../operation.js';
import * as res from '../responses.js';

const quietNights = {
  user_id: 'user-123',
  channels: { '*': ['app'], alert: ['app', 'sms'] },
  do_not_disturb: { enabled: true, start: '22:00', end: '07:00', timezone: 'Asia/Shanghai' },
  do_not_disturb_start: '22:00',
  do_not_disturb_end: '07:00',
  timezone: 'Asia/Shanghai',
  mute_until: null,
  available_channels: [...CHANNELS],
  updated_at: '2026-11-22T08:00:00.000Z',
};

export const preferenceOperations: Operation[] = [
  {
    method: 'get',
    path: '/api/v1/preferences',
    operationId: 'getPreferences',
    summary: "The caller's preferences",
    description: 'Channels per type, the do-not-disturb window with its time zone, and mute_until, for the token\'s own user.',
    tag: 'Preferences',
    access: { kind: 'token' },
    responses: { 200: { description: 'The preferences.', schema: res.preferences, examples: { quiet: { summary: 'Quiet nights', value: quietNights } } } },
  },
  {
    method: 'put',
    path: '/api/v1/preferences',
    operationId: 'putPreferences',
    summary: "Change the caller's preferences",
    description:
      'Changes the fields named and keeps the others; null clears one. The window is accepted flat (do_not_disturb_start/_end, the legacy names) or nested (do_not_disturb { start, end, timezone }). ' +
      'External channels wait until the window or mute ends (delayed, not dropped); urgent notifications go through; the inbox always stores.',
    tag: 'Preferences',
    access: { kind: 'token' },
    body: {
      name: 'PreferencesPut',
      schema: preferencesSchema,
      examples: {
        nested: {
          summary: 'Nested window, channels per type',
          value: { channels: { '*': ['app'], alert: ['app', 'sms'] }, do_not_disturb: { start: '22:00', end: '07:00', timezone: 'Asia/Shanghai' } },
        },
        flat: { summary: 'The legacy flat window', value: { do_not_disturb_start: '22:00', do_not_disturb_end: '07:00', timezone: 'Asia/Shanghai' } },
      },
    },
    responses: { 200: { description: 'The preferences as changed.', schema: res.preferences, examples: { quiet: { summary: 'Quiet nights', value: quietNights } } } },
  },
];
