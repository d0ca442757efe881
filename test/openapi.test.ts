import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { z } from 'zod';
import { DOCUMENT_PATH, TYPES_PATH, openApiFiles } from '../scripts/openapi.js';
import { buildOpenApiDocument } from '../src/api/openapi/document.js';
import type { Operation } from '../src/api/openapi/operation.js';
import { PROBLEMS } from '../src/api/openapi/problems.js';
import * as res from '../src/api/openapi/responses.js';
import { ROUTE_TABLE } from '../src/api/openapi/route-table.js';
import { BOARD_PATH } from '../src/api/routes/admin.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
  await h.startIngest();
});
afterAll(() => h.close());

const doc = buildOpenApiDocument();

/** `METHOD /path` with Hono's `:param` written as OpenAPI's `{param}`. */
const key = (method: string, path: string) => `${method.toUpperCase()} ${path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`;

/** The operation of the route table at `method path`. */
function operation(method: string, path: string): Operation {
  const op = ROUTE_TABLE.find((o) => o.method === method && o.path === path);
  if (!op) throw new Error(`no ${method} ${path} in the route table`);
  return op;
}

/** The issues of `value` against `schema`, as one line each (empty when it validates). */
function issues(schema: z.ZodType, value: unknown, where: string): string[] {
  const parsed = schema.safeParse(value);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${where}: ${i.path.join('.') || '(root)'} ${i.message}`);
}

/** How many examples a JSON value holds: the entries of every `examples` object in it. */
function examplesIn(value: unknown): number {
  if (!value || typeof value !== 'object') return 0;
  return Object.entries(value).reduce(
    (n, [k, v]) => n + (k === 'examples' && v && typeof v === 'object' ? Object.keys(v).length : examplesIn(v)),
    0,
  );
}

describe('the document lists exactly what the app serves', () => {
  test('every route the app serves is documented, and every documented operation is served', () => {
    const routes = h.app.routes;
    // Left out of the comparison, each for its reason:
    //  - method ALL: app.use() middleware (request context, auth, scope checks), which Hono lists beside the routes;
    //  - paths under BOARD_PATH/: bull-board's own pages, assets and JSON api, the internals of its UI behind the
    //    admin gate (the board's entry page, BOARD_PATH itself, is documented);
    //  - HEAD and OPTIONS: answered by Hono for the GET routes, never registered by Herald (none are listed today).
    // A route with its own middleware (requireScope) is listed once per handler: the Set keeps one.
    const servedRoutes = routes.filter((r) => r.method !== 'ALL' && r.method !== 'HEAD' && r.method !== 'OPTIONS' && !r.path.startsWith(`${BOARD_PATH}/`));
    const served = new Set(servedRoutes.map((r) => key(r.method, r.path)));
    const documented = new Set(Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((method) => key(method, path))));

    const undocumented = [...served].filter((k) => !documented.has(k)).sort();
    const unserved = [...documented].filter((k) => !served.has(k)).sort();
    expect({ undocumented, unserved }).toEqual({ undocumented: [], unserved: [] });

    // an ALL entry is middleware only while it guards something: a wildcard, or a path that has routes of its own;
    // app.all('/x', handler) would be a route this test could not see
    const guards = routes.filter((r) => r.method === 'ALL' && !r.path.endsWith('*') && !routes.some((o) => o.method !== 'ALL' && o.path === r.path));
    expect(guards.map((r) => r.path)).toEqual([]);
  });
});

describe('examples', () => {
  test('every request and response example validates against its zod schema', () => {
    const bad: string[] = [];
    let count = 0;
    for (const op of ROUTE_TABLE) {
      for (const [name, e] of Object.entries(op.body?.examples ?? {})) {
        count++;
        bad.push(...issues(op.body!.schema, e.value, `${op.operationId} body ${name}`));
      }
      for (const [status, r] of Object.entries(op.responses)) {
        const examples = Object.entries(r.examples ?? {});
        if (examples.length && !r.schema) bad.push(`${op.operationId} ${status}: examples without a schema`);
        for (const [name, e] of examples) {
          count++;
          if (r.schema) bad.push(...issues(r.schema, e.value, `${op.operationId} ${status} ${name}`));
        }
      }
    }
    for (const [status, p] of Object.entries(PROBLEMS)) {
      count++;
      bad.push(...issues(res.problem, p.example.value, `problem ${status}`));
    }
    expect(bad).toEqual([]);
    // and these are all the examples the document carries
    expect(examplesIn(doc)).toBe(count);
  });

  test('a real send, bulk send and template send answer what the document says', async () => {
    const svc = await h.serviceToken();
    const send = operation('post', '/api/v1/notifications');
    for (const [name, e] of Object.entries(send.body!.examples)) {
      const r = await h.request('POST', '/api/v1/notifications', { token: svc, body: e.value });
      expect(r.status, `${name}: ${JSON.stringify(r.body)}`).toBe(202);
      expect(issues(res.accepted, r.body, name)).toEqual([]);
    }
    const bulk = await h.request('POST', '/api/v1/notifications/bulk', { token: svc, body: operation('post', '/api/v1/notifications/bulk').body!.examples.two.value });
    expect(bulk.status).toBe(202);
    expect(issues(res.bulkAccepted, bulk.body, 'bulk')).toEqual([]);

    const toUser = operation('post', '/api/v1/notifications/template').body!.examples.user.value as Record<string, unknown>;
    const sent = await h.request('POST', '/api/v1/notifications/template', { token: svc, body: toUser });
    expect(sent.status, JSON.stringify(sent.body)).toBe(202);
    expect(issues(res.templateSendAccepted, sent.body, 'template send')).toEqual([]);

    // the shared 422 example is the answer to its case, word for word
    const missing = await h.request('POST', '/api/v1/notifications/template', {
      token: svc,
      body: { ...toUser, template_vars: { order_id: '1001' } },
    });
    expect(missing.body).toEqual(PROBLEMS[422].example.value);
  });

  test("a real inbox answers what the document says, and the 401 example is a call without a token", async () => {
    const svc = await h.serviceToken();
    const user = uniq('reader');
    const sent = await h.request('POST', '/api/v1/notifications', { token: svc, body: { title: '订单已发货', content: '您的订单 1001 已发货', user_id: user, group_key: 'orders' } });
    expect(sent.status).toBe(202);
    const token = await h.token({ sub: user });
    const page = await waitFor(async () => {
      const r = await h.request('GET', '/api/v1/notifications', { token });
      return r.body.notifications?.length ? r.body : null;
    });
    expect(issues(res.inboxPage, page, 'inbox page')).toEqual([]);
    const keyset = await h.request('GET', '/api/v1/notifications?cursor=9223372036854775807&limit=1', { token });
    expect(issues(res.inboxPage, keyset.body, 'keyset page')).toEqual([]);

    const one = await h.request('GET', `/api/v1/notifications/${sent.body.id}`, { token });
    expect(issues(res.notificationView, one.body, 'one')).toEqual([]);
    for (const [path, schema] of [
      ['/notifications/unread-count', res.unreadCount],
      ['/notifications/stats', res.inboxStats],
      ['/notifications/grouped', res.groupList],
      ['/preferences', res.preferences],
    ] as const) {
      const r = await h.request('GET', `/api/v1${path}`, { token });
      expect(r.status).toBe(200);
      expect(issues(schema, r.body, path)).toEqual([]);
    }
    const read = await h.request('POST', '/api/v1/notifications/batch-mark', { token, body: { ids: [sent.body.id], action: 'read' } });
    expect(issues(res.batchMarked, read.body, 'batch-mark')).toEqual([]);

    const noToken = await h.request('GET', '/api/v1/notifications');
    expect(noToken.body).toEqual(PROBLEMS[401].example.value);
  });

  test('real recipient, preference and schedule changes answer what the document says', async () => {
    const svc = await h.serviceToken();
    const put = operation('put', '/api/v1/recipients/{user_id}').body!.examples.manager.value;
    const recipient = await h.request('PUT', `/api/v1/recipients/${uniq('user')}`, { token: svc, body: put });
    expect(recipient.status, JSON.stringify(recipient.body)).toBe(200);
    expect(issues(res.recipient, recipient.body, 'recipient')).toEqual([]);

    const user = await h.token({ sub: uniq('prefs') });
    for (const [name, e] of Object.entries(operation('put', '/api/v1/preferences').body!.examples)) {
      const r = await h.request('PUT', '/api/v1/preferences', { token: user, body: e.value });
      expect(r.status, `${name}: ${JSON.stringify(r.body)}`).toBe(200);
      expect(issues(res.preferences, r.body, name)).toEqual([]);
    }

    const created = await h.request('POST', '/api/v1/schedules', { token: svc, body: operation('post', '/api/v1/schedules').body!.examples.weekdays.value });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(issues(res.schedule, created.body, 'schedule')).toEqual([]);
    const deleted = await h.request('DELETE', `/api/v1/schedules/${created.body.id}`, { token: svc });
    expect(issues(res.scheduleDeleted, deleted.body, 'schedule deleted')).toEqual([]);
  });
});

describe('the committed files', () => {
  test('docs/openapi.json and types/herald-api.d.ts are what `npm run openapi` writes', async () => {
    const fresh = await openApiFiles();
    // On failure: run `npm run openapi` and commit both files.
    expect(readFileSync(DOCUMENT_PATH, 'utf8')).toBe(fresh.document);
    expect(readFileSync(TYPES_PATH, 'utf8')).toBe(fresh.types);
  });
});

describe('served without a token', () => {
  test('GET /openapi.json is the committed document', async () => {
    const r = await h.request('GET', '/openapi.json');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    expect(r.body).toEqual(JSON.parse(readFileSync(DOCUMENT_PATH, 'utf8')));
  });

  test('GET /docs is one self-contained page with every operation', async () => {
    const r = await h.request('GET', '/docs');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/html/);
    const html = r.body as string;
    for (const op of ROUTE_TABLE) expect(html).toContain(`id="${op.operationId}"`);
    // nothing is fetched from anywhere: no scripts, stylesheets, images or fonts, links only within the api
    expect(html).not.toMatch(/<script|<link|<img|@import|url\(/i);
    const links = [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]);
    expect(links.filter((l) => !l.startsWith('#') && l !== '/openapi.json')).toEqual([]);
  });
});
