import { z } from 'zod';
import { SCOPES } from '../../../auth/jwt.js';
import type { AuditEventJson } from '../../../domain/audit/query.js';
import { AUDIT_PATH, auditQuery } from '../../routes/admin-audit.js';
import { CREATED_AT } from '../examples.js';
import type { Operation } from '../operation.js';
import { responseSchemas } from '../responses.js';

const digest = z.string().nullable().describe('SHA-256 (hex) of the canonical JSON of the target as the api presented it; null where there was none (before a create, after a delete)');

const auditEvent = z.strictObject({
  id: z.string(),
  time: z.string().meta({ format: 'date-time' }),
  tenant: z.string(),
  actor_sub: z.string().describe("the acting token's subject"),
  actor_scopes: z.array(z.string()).describe("the acting token's scopes"),
  action: z.string().describe('template.create, template.update, template.delete, recipient.upsert, recipient.delete, notification.cancel, notification.recall, schedule.create, schedule.delete, queue.* (queue-board calls), ratelimit.refused'),
  target: z.string().describe('kind:id: template:<name>, recipient:<user_id>, notification:<id>, schedule:<id>, queue:<queue>, job:<queue>/<job id>, scheduler:<queue>/<id>, token:<subject>'),
  before_digest: digest,
  after_digest: digest,
  request_id: z.string().nullable().describe("the request's X-Request-Id"),
});
true satisfies z.output<typeof auditEvent> extends AuditEventJson ? (AuditEventJson extends z.output<typeof auditEvent> ? true : false) : false;

export const auditPage = z.strictObject({
  events: z.array(auditEvent),
  next_cursor: z.string().nullable().describe('pass as `cursor` for the next (older) page; null on the last'),
});
responseSchemas.add(auditPage, { id: 'AuditPage', description: "A page of the tenant's audit log, newest first." });

const example: AuditEventJson = {
  id: '1024',
  time: CREATED_AT,
  tenant: 'default',
  actor_sub: 'ops-alice',
  actor_scopes: ['admin', 'templates:write'],
  action: 'template.update',
  target: 'template:order_ready',
  before_digest: '3f0a8c1e5b7d9f2a4c6e8b0d1f3a5c7e9b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a',
  after_digest: '9d2e4b6a8c0f1e3d5b7a9c2e4f6b8d0a1c3e5f7b9d2a4c6e8f0b1d3a5c7e9f2b',
  request_id: '6c1e2f3a-4b5d-4e6f-8a7b-9c0d1e2f3a4b',
};

export const auditOperations: Operation[] = [
  {
    method: 'get',
    path: `/api/v1${AUDIT_PATH}`,
    operationId: 'listAuditEvents',
    summary: 'Audit log',
    description:
      "Every administrative change in the caller's tenant, newest first: template, recipient and schedule changes, cancelled and recalled notifications, queue-board actions, and rate-limit refusals of admin tokens (one a minute per token subject). " +
      'Each event names the actor, the action, the target and the request id, with digests of the target before and after; the states themselves are never stored. ' +
      'Filters combine; `cursor` continues from the previous page.',
    tag: 'Operations',
    access: { kind: 'token', scopes: [SCOPES.admin] },
    query: { schema: auditQuery },
    responses: {
      200: {
        description: 'A page of events, newest first.',
        schema: auditPage,
        examples: { one: { summary: 'A template change', value: { events: [example], next_cursor: null } } },
      },
    },
  },
];
