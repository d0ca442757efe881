import { actionOperations } from './operations/actions.js';
import { auditOperations } from './operations/audit.js';
import { clientOperations } from './operations/client.js';
import { inboxOperations } from './operations/inbox.js';
import { meOperations } from './operations/me.js';
import { preferenceOperations } from './operations/preferences.js';
import { recipientOperations } from './operations/recipients.js';
import { scheduleOperations } from './operations/schedules.js';
import { sendingOperations } from './operations/sending.js';
import { serviceOperations } from './operations/service.js';
import { operatorToolOperations } from './operations/operator-tools.js';
import { templateOperations } from './operations/templates.js';
import type { Operation } from './operation.js';

/**
 * Every operation the api serves, in the order the reference shows them.
 * test/openapi.test.ts fails when this table and the routes the app
 * mounts (app.routes) disagree.
 */
export const ROUTE_TABLE: readonly Operation[] = [
  ...sendingOperations,
  ...templateOperations,
  ...recipientOperations,
  ...scheduleOperations,
  ...inboxOperations,
  ...actionOperations,
  ...meOperations,
  ...preferenceOperations,
  ...serviceOperations,
  ...operatorToolOperations,
  ...auditOperations,
  ...clientOperations,
];

/** The tags, in the reference's order, with what each groups. */
export const TAGS = [
  { name: 'Sending', description: 'Sending notifications (scope notify:send): to users, roles, stores or the tenant, or straight to an address; cancelling, recalling, delivery records.' },
  { name: 'Templates', description: 'Templates: read with any token, changed with templates:write, sent with notify:send.' },
  { name: 'Recipients', description: 'How to reach each user on the external channels.' },
  { name: 'Schedules', description: 'Recurring sends on a cron expression (scope notify:send).' },
  { name: 'Inbox', description: "The token's own user's inbox: read state is per user." },
  { name: 'Self-service', description: "The token's own user: who the token says they are, the inbox's counts, the devices push reaches." },
  { name: 'Preferences', description: "The token's own user's channels per type, do-not-disturb window and mute." },
  { name: 'Operations', description: 'Health, readiness, metrics and the operators\' queue board.' },
  { name: 'Clients', description: 'Scripts for the browser and app side, served by the api.' },
  { name: 'Reference', description: 'This description of the API.' },
] as const;
