import { BOARD_PATH, LOGIN_PATH } from '../../routes/admin.js';
import type { Operation } from '../operation.js';
import * as res from '../responses.js';

const open = { kind: 'open' } as const;
const alive = { status: 'ok', service: 'herald-api', time: '2026-11-22T08:00:00.000Z' };

const health = (path: string, operationId: string): Operation => ({
  method: 'get',
  path,
  operationId,
  summary: 'Alive',
  description: 'Answers while the process runs; says nothing about PostgreSQL or Redis (GET /ready does).',
  tag: 'Operations',
  access: open,
  responses: { 200: { description: 'Alive.', schema: res.health, examples: { ok: { summary: 'Alive', value: alive } } } },
});

export const serviceOperations: Operation[] = [
  health('/health', 'health'),
  health('/api/v1/health', 'healthV1'),
  {
    method: 'get',
    path: '/ready',
    operationId: 'ready',
    summary: 'Ready to serve',
    description: 'PostgreSQL answers, every migration has run, Redis answers. A load balancer drains an instance that answers 503.',
    tag: 'Operations',
    access: open,
    responses: {
      200: {
        description: 'Ready.',
        schema: res.ready,
        examples: { ready: { summary: 'Ready', value: { status: 'ready', checks: { postgres: 'ok', migrations: 'ok', redis: 'ok' } } } },
      },
      503: {
        description: 'Not ready: which dependencies are down (application/problem+json).',
        schema: res.notReady,
        media: 'application/problem+json',
        headers: { 'Retry-After': 'seconds to wait before asking again' },
        examples: {
          redis: {
            summary: 'Redis down',
            value: {
              type: 'https://herald.dev/problems/not-ready',
              title: 'Service Unavailable',
              status: 503,
              detail: 'Not ready: redis is down.',
              down: ['redis'],
              checks: { postgres: 'ok', migrations: 'ok', redis: 'down: no answer within 2000 ms' },
            },
          },
        },
      },
    },
  },
  {
    method: 'get',
    path: '/metrics',
    operationId: 'metrics',
    summary: 'Prometheus metrics',
    description:
      "The whole deployment's metrics (every process's, merged) and queue depths: notification_created_total, notification_sent_total{channel}, notification_failed_total{channel,reason}, " +
      'websocket_connections_active, notification_delivery_duration_seconds. Open unless METRICS_TOKEN is set.',
    tag: 'Operations',
    access: { kind: 'metrics' },
    responses: { 200: { description: 'The Prometheus text exposition format.', media: 'text/plain' } },
    problems: [401],
  },
  {
    method: 'get',
    path: LOGIN_PATH,
    operationId: 'adminLoginPage',
    summary: 'Operator sign-in page',
    description: `A form for a token with the admin scope; signing in leads to the queue board at ${BOARD_PATH}.`,
    tag: 'Operations',
    access: open,
    responses: { 200: { description: 'The sign-in form.', media: 'text/html' } },
  },
  {
    method: 'post',
    path: LOGIN_PATH,
    operationId: 'adminLogin',
    summary: 'Operator sign-in',
    description: `A form post with \`token\`. A token with the admin scope sets an HttpOnly, SameSite=Strict cookie for /admin and redirects to ${BOARD_PATH}; any other token gets the form again with 401.`,
    tag: 'Operations',
    access: open,
    responses: {
      303: { description: `Signed in: on to ${BOARD_PATH}.`, headers: { Location: BOARD_PATH } },
      401: { description: 'The form again, saying why.', media: 'text/html' },
    },
  },
  {
    method: 'post',
    path: '/admin/logout',
    operationId: 'adminLogout',
    summary: 'Operator sign-out',
    tag: 'Operations',
    access: open,
    responses: { 303: { description: 'Signed out: on to the sign-in page.', headers: { Location: LOGIN_PATH } } },
  },
  {
    method: 'get',
    path: BOARD_PATH,
    operationId: 'queueBoard',
    summary: 'Queue board (bull-board)',
    description:
      'Every queue, its jobs and their state, for operators. A browser signs in at the sign-in page or with `?token=` (which sets the cookie and is dropped from the address); ' +
      'scripts may send the token as a bearer token. Without one: the sign-in form for a browser (401), problem+json otherwise. ' +
      "The board's own pages and JSON api under this path are bull-board's and are not described here.",
    tag: 'Operations',
    access: { kind: 'admin-ui' },
    responses: { 200: { description: 'The board.', media: 'text/html' } },
    problems: [401],
  },
  {
    method: 'get',
    path: '/openapi.json',
    operationId: 'openApiDocument',
    summary: 'This API description',
    description: 'OpenAPI 3.1, generated from the schemas the api validates requests with.',
    tag: 'Reference',
    access: open,
    responses: { 200: { description: 'The document.', schema: res.openApiDocument } },
  },
  {
    method: 'get',
    path: '/docs',
    operationId: 'docsPage',
    summary: 'This API reference, for reading',
    description: 'Every operation of /openapi.json as one self-contained HTML page.',
    tag: 'Reference',
    access: open,
    responses: { 200: { description: 'The page.', media: 'text/html' } },
  },
];
