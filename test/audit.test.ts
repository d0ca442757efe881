import { createHash, randomUUID } from 'node:crypto';
import { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { workerConnection } from '../queues/connection.js';
import { canonicalJson, stateDigest } from '../src/domain/audit/digest.js';
import { actorOf } from '../src/domain/audit/event.js';
import { recordAudit } from '../src/domain/audit/record.js';
import { BOARD_PATH } from '../src/api/routes/admin.js';
import { purgeExpiredAudit } from '../workers/processors/maintenance.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';

/**
 * The audit log: every administrative change leaves one row naming who,
 * what, which target, which request, and digests of the target before and
 * after; the table refuses changes to its rows; retention deletes old rows
 * only; GET /api/v1/admin/audit filters and pages them.
 */
let h: Harness;
let admin: string;
let editor: string;
let svc: string;
beforeAll(async () => {
  h = await createHarness({ RATE_LIMIT_USER_PER_MIN: '1000000', RATE_LIMIT_SERVICE_PER_MIN: '1000000', RATE_LIMIT_SCOPES: 'admin=1000000' });
  await h.startIngest();
  admin = await h.token({ sub: uniq('ops'), scope: 'admin' });
  editor = await h.token({ sub: uniq('editor'), scope: 'templates:write' });
  svc = await h.serviceToken();
});
afterAll(() => h?.close());

interface AuditRow {
  id: string;
  tenant: string;
  actor_sub: string;
  actor_scopes: string[];
  action: string;
  target: string;
  before_digest: string | null;
  after_digest: string | null;
  request_id: string | null;
}

/** A request with its own X-Request-Id, so the test finds the audit rows it made. */
async function call(method: string, path: string, opts: { token?: string; body?: unknown } = {}) {
  const requestId = randomUUID();
  const headers: Record<string, string> = { 'x-request-id': requestId };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await h.app.request(path, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  const text = await res.text();
  let body: any = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON */
  }
  return { status: res.status, body, requestId };
}

const rowsOf = (requestId: string) =>
  h.orm.em.fork().execute<AuditRow[]>(`select id::text as id, tenant, actor_sub, actor_scopes, action, target, before_digest, after_digest, request_id from audit_events where request_id = ? order by audit_events.id`, [requestId]);

/** The one audit row a request left, checked against who made it and what it did. */
async function theEvent(r: { requestId: string }, expected: { sub: string; action: string; target: string }): Promise<AuditRow> {
  const rows = await rowsOf(r.requestId);
  expect(rows).toHaveLength(1);
  expect(rows[0]).toMatchObject({ tenant: h.tenant, actor_sub: expected.sub, action: expected.action, target: expected.target, request_id: r.requestId });
  return rows[0];
}

const subOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).sub as string;
const HEX = /^[0-9a-f]{64}$/;

describe('each administrative change leaves exactly one event', () => {
  test('templates: create, update and delete, with digests of the template as the api presented it', async () => {
    const name = uniq('tpl').replace(/-/g, '_');
    const created = await call('POST', '/api/v1/notifications/templates', { token: editor, body: { name, title: 'Hi {{who}}', content: 'Hello {{who}}' } });
    expect(created.status).toBe(201);
    const c = await theEvent(created, { sub: subOf(editor), action: 'template.create', target: `template:${name}` });
    expect(c.actor_scopes).toEqual(['templates:write']);
    expect(c.before_digest).toBeNull();
    expect(c.after_digest).toBe(stateDigest(created.body));

    const updated = await call('PUT', `/api/v1/notifications/templates/${name}`, { token: editor, body: { title: 'Hello {{who}}' } });
    expect(updated.status).toBe(200);
    const u = await theEvent(updated, { sub: subOf(editor), action: 'template.update', target: `template:${name}` });
    // the state before the update is the one the create left
    expect(u.before_digest).toBe(c.after_digest);
    expect(u.after_digest).toBe(stateDigest(updated.body));
    expect(u.after_digest).not.toBe(u.before_digest);

    const deleted = await call('DELETE', `/api/v1/notifications/templates/${name}`, { token: editor });
    expect(deleted.status).toBe(200);
    const d = await theEvent(deleted, { sub: subOf(editor), action: 'template.delete', target: `template:${name}` });
    expect(d.before_digest).toBe(u.after_digest);
    expect(d.after_digest).toBeNull();

    // a refused change leaves nothing
    const refused = await call('DELETE', `/api/v1/notifications/templates/${name}`, { token: editor });
    expect(refused.status).toBe(404);
    expect(await rowsOf(refused.requestId)).toEqual([]);
  });

  test('recipients: upsert and delete, and no address is stored in the row', async () => {
    const userId = uniq('user');
    const email = `${userId}@example.com`;
    const first = await call('PUT', `/api/v1/recipients/${userId}`, { token: svc, body: { email, phone: '+8613800138000' } });
    expect(first.status).toBe(200);
    const a = await theEvent(first, { sub: subOf(svc), action: 'recipient.upsert', target: `recipient:${userId}` });
    expect(a.before_digest).toBeNull();
    expect(a.after_digest).toBe(stateDigest(first.body));
    // keyed: a plain SHA-256 of the record (which could be found by trying phone numbers) is not what is stored
    expect(a.after_digest).not.toBe(createHash('sha256').update(canonicalJson(first.body)).digest('hex'));

    const second = await call('PUT', `/api/v1/recipients/${userId}`, { token: svc, body: { email: `new-${email}` } });
    const b = await theEvent(second, { sub: subOf(svc), action: 'recipient.upsert', target: `recipient:${userId}` });
    expect(b.before_digest).toBe(a.after_digest);
    expect(b.after_digest).not.toBe(b.before_digest);

    const gone = await call('DELETE', `/api/v1/recipients/${userId}`, { token: svc });
    expect(gone.status).toBe(200);
    const d = await theEvent(gone, { sub: subOf(svc), action: 'recipient.delete', target: `recipient:${userId}` });
    expect(d.before_digest).toBe(b.after_digest);
    expect(d.after_digest).toBeNull();

    const [whole] = await h.orm.em
      .fork()
      .execute<Array<{ text: string }>>(`select string_agg(row_to_json(a)::text, ' ') as text from audit_events a where target = ? and tenant = ?`, [`recipient:${userId}`, h.tenant]);
    expect(whole.text).not.toContain('example.com');
    expect(whole.text).not.toContain('13800138000');
  });

  test('notifications: cancelling a scheduled one and recalling a sent one', async () => {
    const schedule = () =>
      call('POST', '/api/v1/notifications', {
        token: svc,
        body: { title: 't', content: 'c', user_id: 'carol', schedule_at: new Date(Date.now() + 3600_000).toISOString() },
      });
    const later = await schedule();
    expect(later.status).toBe(202);
    await waitFor(async () => (await h.request('GET', `/api/v1/notifications/${later.body.id}`, { token: svc })).status === 200);
    const cancelled = await call('POST', `/api/v1/notifications/${later.body.id}/cancel`, { token: svc });
    expect(cancelled.status).toBe(200);
    const c = await theEvent(cancelled, { sub: subOf(svc), action: 'notification.cancel', target: `notification:${later.body.id}` });
    expect(c.after_digest).toBe(stateDigest(cancelled.body.notification));
    expect(c.before_digest).toMatch(HEX);
    expect(c.before_digest).not.toBe(c.after_digest);

    // a cancel that beats the ingest worker to the row: there was no stored state before it
    const just = await schedule();
    const early = await call('POST', `/api/v1/notifications/${just.body.id}/cancel`, { token: svc });
    expect(early.status).toBe(200);
    const e = await theEvent(early, { sub: subOf(svc), action: 'notification.cancel', target: `notification:${just.body.id}` });
    expect(e.after_digest).toBe(stateDigest(early.body.notification));

    const sent = await call('POST', '/api/v1/notifications', { token: svc, body: { title: 't', content: 'c', user_id: 'carol' } });
    await waitFor(async () => (await h.request('GET', `/api/v1/notifications/${sent.body.id}`, { token: svc })).status === 200);
    const recalled = await call('DELETE', `/api/v1/notifications/${sent.body.id}/recall`, { token: svc });
    expect(recalled.status).toBe(200);
    const r = await theEvent(recalled, { sub: subOf(svc), action: 'notification.recall', target: `notification:${sent.body.id}` });
    expect(r.after_digest).toBe(stateDigest(recalled.body.notification));
    expect(r.before_digest).toMatch(HEX);
    expect(r.before_digest).not.toBe(r.after_digest);
  });

  test('schedules: create and delete', async () => {
    const created = await call('POST', '/api/v1/schedules', {
      token: svc,
      body: { cron: '0 9 * * 1', timezone: 'Asia/Shanghai', notification: { title: 'weekly', content: 'report', user_id: 'carol' } },
    });
    expect(created.status).toBe(201);
    const c = await theEvent(created, { sub: subOf(svc), action: 'schedule.create', target: `schedule:${created.body.id}` });
    expect(c.before_digest).toBeNull();
    expect(c.after_digest).toBe(stateDigest(created.body));

    const deleted = await call('DELETE', `/api/v1/schedules/${created.body.id}`, { token: svc });
    expect(deleted.status).toBe(200);
    const d = await theEvent(deleted, { sub: subOf(svc), action: 'schedule.delete', target: `schedule:${created.body.id}` });
    expect(d.before_digest).toMatch(HEX);
    expect(d.after_digest).toBeNull();
  });

  test('a user changing their own preferences is not an administrative change', async () => {
    const user = await h.token({ sub: uniq('user') });
    const r = await call('PUT', '/api/v1/preferences', { token: user, body: { mute_until: null } });
    expect(r.status).toBe(200);
    expect(await rowsOf(r.requestId)).toEqual([]);
  });

  test('the queue board: a retry of a failed job is recorded with its queue and job id; reads are not', async () => {
    const queue = h.deps.queues.delivery.webhook;
    const job = await queue.add('audit-test', { delivery_id: randomUUID() } as never, { attempts: 1 });
    const connection = workerConnection(h.config.REDIS_URL);
    const worker = new Worker(queue.name, async () => {
      throw new Error('refused on purpose');
    }, { connection, prefix: h.prefix });
    try {
      await waitFor(async () => (await queue.getJobState(job.id!)) === 'failed');
    } finally {
      await worker.close();
      await connection.quit();
    }
    const base = `${BOARD_PATH}/api/queues/${encodeURIComponent(queue.name)}`;
    const read = await call('GET', `${base}/${job.id}`, { token: admin });
    expect(read.status).toBe(200);
    expect(await rowsOf(read.requestId)).toEqual([]);

    const retried = await call('PUT', `${base}/${job.id}/retry`, { token: admin });
    expect(retried.status).toBeLessThan(300);
    expect(await queue.getJobState(job.id!)).not.toBe('failed');
    const e = await theEvent(retried, { sub: subOf(admin), action: 'queue.job.retry', target: `job:${queue.name}/${job.id}` });
    expect(e.actor_scopes).toEqual(['admin']);
    expect(e.before_digest).toMatch(HEX);
    expect(e.after_digest).toMatch(HEX);
    expect(e.after_digest).not.toBe(e.before_digest);

    // a call the board refuses (the job is no longer failed) changed nothing and is not recorded
    const again = await call('PUT', `${base}/${job.id}/retry`, { token: admin });
    expect(again.status).toBe(400);
    expect(await rowsOf(again.requestId)).toEqual([]);

    const cleaned = await call('PUT', `${base}/clean/waiting`, { token: admin });
    expect(cleaned.status).toBeLessThan(300);
    await theEvent(cleaned, { sub: subOf(admin), action: 'queue.clean.waiting', target: `queue:${queue.name}` });
    await queue.obliterate({ force: true });
  });
});

describe('an event that cannot be written', () => {
  /** Makes inserts of this harness's tenant into audit_events fail while `fn` runs (other tenants' are untouched). */
  async function withAuditRefused<T>(fn: () => Promise<T>): Promise<T> {
    const fn_ = `test_refuse_audit_${h.tenant.replace(/\W/g, '_')}`;
    const em = h.orm.em.fork();
    await em.execute(`create function ${fn_}() returns trigger language plpgsql as $$ begin raise exception 'audit refused by the test'; end $$`);
    await em.execute(`create trigger ${fn_} before insert on audit_events for each row when (new.tenant = '${h.tenant}') execute function ${fn_}()`);
    try {
      return await fn();
    } finally {
      await em.execute(`drop trigger if exists ${fn_} on audit_events`);
      await em.execute(`drop function if exists ${fn_}()`);
    }
  }

  test('undoes a change made in PostgreSQL alone: the recipient is not stored and the request fails', async () => {
    const userId = uniq('user');
    const r = await withAuditRefused(() => call('PUT', `/api/v1/recipients/${userId}`, { token: svc, body: { email: 'x@example.com' } }));
    expect(r.status).toBe(500);
    expect((await h.request('GET', `/api/v1/recipients/${userId}`, { token: svc })).status).toBe(404);
  });

  test('after a change beyond PostgreSQL (a recall) is retried, then fails the request loudly', async () => {
    const sent = await call('POST', '/api/v1/notifications', { token: svc, body: { title: 't', content: 'c', user_id: 'dora' } });
    await waitFor(async () => (await h.request('GET', `/api/v1/notifications/${sent.body.id}`, { token: svc })).status === 200);
    const started = Date.now();
    const r = await withAuditRefused(() => call('DELETE', `/api/v1/notifications/${sent.body.id}/recall`, { token: svc }));
    expect(r.status).toBe(500);
    expect(r.body.title).toBe('Audit Record Failed');
    // retried for about a second before giving up
    expect(Date.now() - started).toBeGreaterThan(1000);
  });
});

describe('the table is append-only', () => {
  test('UPDATE and DELETE are refused by the database; the purge setting lets DELETE through', async () => {
    const em = h.orm.em.fork();
    const id = await recordAudit(em, actorOf({ tenant: h.tenant, sub: 'x', scopes: new Set(['admin']) }), {
      action: 'test.append_only',
      target: 'test:1',
      before: null,
      after: { a: 1 },
    });
    await expect(em.execute(`update audit_events set action = 'x' where id = ?`, [id])).rejects.toThrow(/append-only/);
    await expect(em.execute(`delete from audit_events where id = ?`, [id])).rejects.toThrow(/append-only/);
    await expect(em.execute(`truncate audit_events`)).rejects.toThrow(/append-only/);
    expect(await em.execute(`select 1 from audit_events where id = ?`, [id])).toHaveLength(1);
    // the setting lasts for its own transaction only
    await em.fork().transactional(async (tem) => {
      await tem.execute(`select set_config('herald.audit_purge', 'on', true)`);
      await tem.execute(`delete from audit_events where id = ?`, [id]);
    });
    expect(await em.execute(`select 1 from audit_events where id = ?`, [id])).toHaveLength(0);
    const other = await recordAudit(em, actorOf({ tenant: h.tenant, sub: 'x', scopes: new Set() }), { action: 'test.append_only', target: 'test:2', before: null, after: null });
    await expect(em.execute(`delete from audit_events where id = ?`, [other])).rejects.toThrow(/append-only/);
  });
});

describe('retention', () => {
  test('deletes events older than AUDIT_RETENTION_DAYS only, in batches; 0 keeps them all', async () => {
    const tenant = uniq('retention');
    const em = h.orm.em.fork();
    const insert = (n: number, daysAgo: number) =>
      em.execute(
        `insert into audit_events (time, tenant, actor_sub, action, target)
         select now() - make_interval(days => ?), ?, 'ops', 'test.retention', 'test:' || g from generate_series(1, ?) g`,
        [daysAgo, tenant, n],
      );
    // more than one purge batch of old events
    await insert(5003, 400);
    await insert(3, 366);
    await insert(4, 364);
    await insert(2, 0);
    const count = async () => Number((await em.execute<Array<{ n: string }>>(`select count(*)::text as n from audit_events where tenant = ?`, [tenant]))[0].n);
    expect(await purgeExpiredAudit({ orm: h.orm, logger: h.deps.logger }, 0, new Date(), { tenant })).toBe(0);
    expect(await count()).toBe(5012);
    expect(await purgeExpiredAudit({ orm: h.orm, logger: h.deps.logger }, 365, new Date(), { tenant })).toBe(5006);
    expect(await count()).toBe(6);
    // config: a year by default, 0 allowed
    expect(h.config.AUDIT_RETENTION_DAYS).toBe(365);
  });
});

describe('GET /api/v1/admin/audit', () => {
  /** A tenant of its own with a known set of events, and an admin token of it. */
  async function seededTenant() {
    const tenant = uniq('audit-list');
    const em = h.orm.em.fork();
    const ids: string[] = [];
    const add = async (sub: string, action: string, target: string) =>
      ids.push(await recordAudit(em, actorOf({ tenant, sub, scopes: new Set(['admin']) }, randomUUID()), { action, target, before: { v: 1 }, after: { v: 2 } }));
    await add('alice', 'template.create', 'template:a');
    await add('alice', 'template.update', 'template:a');
    await add('bob', 'queue.job.retry', 'job:deliver-email/1');
    await add('bob', 'queue.clean.failed', 'queue:deliver-email');
    await add('carol', 'queuex.other', 'x:1');
    await add('carol', 'a_b.x', 'y:1');
    await add('carol', 'axb.y', 'y:2');
    // events of one instant: the id breaks the tie
    await em.transactional(async (tem) => {
      for (let i = 0; i < 3; i++) ids.push(await recordAudit(tem, actorOf({ tenant, sub: 'dave', scopes: new Set(['admin']) }), { action: 'recipient.upsert', target: `recipient:u${i}`, before: null, after: { i } }));
    });
    await em.execute(
      `insert into audit_events (time, tenant, actor_sub, action, target) values (now() - interval '10 days', ?, 'erin', 'schedule.delete', 'schedule:old') returning id`,
      [tenant],
    );
    return { tenant, token: await h.token({ sub: 'ops', tenant, scope: 'admin' }), ids };
  }

  const list = async (token: string, query = '') => call('GET', `/api/v1/admin/audit${query}`, { token });

  test('pages through every event newest first, without gaps or repeats', async () => {
    const { token, ids } = await seededTenant();
    const seen: any[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r: { status: number; body: any } = await list(token, `?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(r.status).toBe(200);
      seen.push(...r.body.events);
      cursor = r.body.next_cursor;
      pages++;
    } while (cursor && pages < 10);
    expect(seen).toHaveLength(ids.length + 1);
    expect(new Set(seen.map((e) => e.id)).size).toBe(seen.length);
    // newest first: the seeded ids from last to first, then the event from ten days ago
    expect(seen.slice(0, ids.length).map((e) => e.id)).toEqual([...ids].reverse());
    expect(seen.at(-1).actor_sub).toBe('erin');
    const times = seen.map((e) => Date.parse(e.time));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(seen[0]).toMatchObject({ action: 'recipient.upsert', actor_sub: 'dave', actor_scopes: ['admin'], before_digest: null });
    expect(seen[0].after_digest).toBe(stateDigest({ i: 2 }));
    expect((await list(token, '?limit=50')).body.next_cursor).toBeNull();
    expect((await list(token)).body.events).toHaveLength(ids.length + 1);
  });

  test('filters by action (exact or prefix), actor, target and time', async () => {
    const { token } = await seededTenant();
    const actions = async (q: string) => {
      const r = await list(token, q);
      expect(r.status).toBe(200);
      return r.body.events.map((e: any) => e.action).sort();
    };
    expect(await actions('?action=template.update')).toEqual(['template.update']);
    expect(await actions('?action=template.*')).toEqual(['template.create', 'template.update']);
    expect(await actions('?action=queue.*')).toEqual(['queue.clean.failed', 'queue.job.retry']);
    // _ is matched literally in a prefix
    expect(await actions('?action=a_b.*')).toEqual(['a_b.x']);
    expect(await actions('?actor=bob')).toEqual(['queue.clean.failed', 'queue.job.retry']);
    expect(await actions('?target=template:a')).toEqual(['template.create', 'template.update']);
    expect(await actions('?actor=alice&action=template.create')).toEqual(['template.create']);
    const dayAgo = new Date(Date.now() - 86_400_000).toISOString();
    expect(await actions(`?until=${dayAgo}`)).toEqual(['schedule.delete']);
    expect(await actions(`?since=${dayAgo}&actor=erin`)).toEqual([]);
    expect((await list(token, `?since=${encodeURIComponent(dayAgo)}`)).body.events).toHaveLength(10);
  });

  test("shows the caller's tenant only", async () => {
    const a = await seededTenant();
    const b = await seededTenant();
    const fromB = (await list(b.token, '?limit=200')).body.events.map((e: any) => e.id);
    expect(fromB.some((id: string) => a.ids.includes(id))).toBe(false);
    // a cursor of another tenant's event leads nowhere
    expect((await list(b.token, `?cursor=${a.ids[5]}`)).body.events).toEqual([]);
  });

  test('bad filters are 400 problems naming the field', async () => {
    for (const [query, field] of [
      ['?action=Template..x', 'action'],
      ['?action=template.*.x', 'action'],
      ['?limit=201', 'limit'],
      ['?limit=0', 'limit'],
      ['?since=yesterday', 'since'],
      ['?until=2026-13-01T00:00:00Z', 'until'],
      ['?cursor=abc', 'cursor'],
      ['?since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z', 'until'],
      ['?colour=red', 'colour'],
    ]) {
      const r = await list(admin, query);
      expect(r.status, query).toBe(400);
      expect(r.body.errors.map((e: any) => e.path), query).toContain(field);
    }
  });

  test('needs the admin scope', async () => {
    expect((await list(editor)).status).toBe(403);
    expect((await list(svc)).status).toBe(403);
    expect((await list(await h.token({ sub: 'someone' }))).status).toBe(403);
    expect((await call('GET', '/api/v1/admin/audit')).status).toBe(401);
    expect((await list(admin)).status).toBe(200);
  });
});

describe('rate-limit refusals', () => {
  let limited: Harness;
  beforeAll(async () => {
    limited = await createHarness({ RATE_LIMIT_USER_PER_MIN: '2', RATE_LIMIT_SCOPES: 'admin=2' });
  });
  afterAll(() => limited?.close());

  const refusals = (sub: string) =>
    limited.orm.em
      .fork()
      .execute<AuditRow[]>(`select * from audit_events where tenant = ? and actor_sub = ? and action = 'ratelimit.refused'`, [limited.tenant, sub]);

  test("an admin token's refusals are recorded once a minute; other tokens' are not recorded", async () => {
    const sub = uniq('ops');
    const token = await limited.token({ sub, scope: 'admin' });
    const statuses: number[] = [];
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      const requestId = randomUUID();
      ids.push(requestId);
      const res = await limited.app.request('/api/v1/me', { headers: { authorization: `Bearer ${token}`, 'x-request-id': requestId } });
      statuses.push(res.status);
    }
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(5);
    const rows = await refusals(sub);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ target: `token:${sub}`, actor_scopes: ['admin'], before_digest: null, after_digest: null });
    // the first refused request's id
    expect(rows[0].request_id).toBe(ids[statuses.indexOf(429)]);

    const userSub = uniq('user');
    const user = await limited.token({ sub: userSub });
    for (let i = 0; i < 5; i++) await limited.app.request('/api/v1/me', { headers: { authorization: `Bearer ${user}` } });
    expect(await refusals(userSub)).toHaveLength(0);
  });
});
