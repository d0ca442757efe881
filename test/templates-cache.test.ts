import { afterAll, beforeAll, expect, test } from 'vitest';
import { TemplateCache } from '../src/domain/templates/cache.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';

/**
 * Two api processes (two apps, each with its own template cache and Redis
 * connections) serving one tenant on one Redis and PostgreSQL.
 */
let a: Harness;
let b: Harness;
let svcA: string;
let svcB: string;
let writer: string;
beforeAll(async () => {
  a = await createHarness();
  b = await createHarness({ QUEUE_PREFIX: a.prefix });
  const sub = uniq('svc');
  svcA = await a.token({ sub, scope: 'notify:send' });
  svcB = await b.token({ sub, tenant: a.tenant, scope: 'notify:send' });
  writer = await a.token({ sub: 'editor', scope: 'templates:write' });
});
afterAll(async () => {
  await b.close();
  await a.close();
});

const send = async (h: Harness, token: string, name: string) => {
  const r = await h.request('POST', '/api/v1/notifications/template', { token, body: { template_name: name, user_id: 'u', template_vars: { x: 'X' } } });
  expect(r.status).toBe(202);
  return r.body as { content: string; template_version: number };
};

test('a template change reaches every process: none renders the old version afterwards', async () => {
  const name = uniq('greet');
  const created = await a.request('POST', '/api/v1/notifications/templates', { token: writer, body: { name, title: 't', content: 'v1 {x}' } });
  expect(created.status).toBe(201);
  expect((await send(a, svcA, name)).content).toBe('v1 X');
  expect((await send(b, svcB, name)).content).toBe('v1 X');

  // proof that b serves from memory: a change behind Herald's back is not seen
  await a.orm.em.fork().execute(`update templates set content = 'sneaky {x}' where id = ?`, [created.body.id]);
  expect((await send(b, svcB, name)).content).toBe('v1 X');

  for (let v = 2; v <= 6; v++) {
    const r = await a.request('PUT', `/api/v1/notifications/templates/${name}`, { token: writer, body: { content: `v${v} {x}` } });
    expect(r.body.version).toBe(v);
    const [fromA, fromB] = [await send(a, svcA, name), await send(b, svcB, name)];
    expect(fromA).toMatchObject({ content: `v${v} X`, template_version: v });
    expect(fromB).toMatchObject({ content: `v${v} X`, template_version: v });
  }

  const del = await a.request('DELETE', `/api/v1/notifications/templates/${name}`, { token: writer });
  expect(del.status).toBe(200);
  const gone = await b.request('POST', '/api/v1/notifications/template', { token: svcB, body: { template_name: name, user_id: 'u', template_vars: { x: 1 } } });
  expect(gone.status).toBe(400);
});

test('a change made through the other process invalidates this one too', async () => {
  const name = uniq('bye');
  await b.request('POST', '/api/v1/notifications/templates', {
    token: await b.token({ sub: 'editor', tenant: a.tenant, scope: 'templates:write' }),
    body: { name, title: 't', content: 'one {x}' },
  });
  expect((await send(a, svcA, name)).content).toBe('one X');
  await b.request('PUT', `/api/v1/notifications/templates/${name}`, {
    token: await b.token({ sub: 'editor', tenant: a.tenant, scope: 'templates:write' }),
    body: { content: 'two {x}' },
  });
  expect((await send(a, svcA, name)).content).toBe('two X');
});

test('a write answers only after a process that is slow to hear the change has dropped its copy', async () => {
  const name = uniq('slow');
  await a.request('POST', '/api/v1/notifications/templates', { token: writer, body: { name, title: 't', content: 'old {x}' } });
  // a third process: its own cache whose subscriber connection the test can hold back
  const subscriber = a.redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null });
  const slow = new TemplateCache({ redis: a.redis, prefix: a.prefix, logger: a.deps.logger, subscriber });
  try {
    await waitFor(async () => ((await slow.get(a.orm.em.fork(), a.tenant, name)) && slow.size === 1) || undefined, 5_000);

    subscriber.stream.pause();
    let answered = false;
    const put = a.request('PUT', `/api/v1/notifications/templates/${name}`, { token: writer, body: { content: 'new {x}' } }).then((r) => {
      answered = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(answered).toBe(false);
    expect((await slow.get(a.orm.em.fork(), a.tenant, name))?.content).toBe('old {x}');

    subscriber.stream.resume();
    expect((await put).status).toBe(200);
    expect((await slow.get(a.orm.em.fork(), a.tenant, name))?.content).toBe('new {x}');
  } finally {
    slow.close();
  }
});
