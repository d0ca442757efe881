/**
 * Bad input is refused where it enters, with a 400 naming the field, and
 * never becomes a 500 or a 503: what PostgreSQL cannot store (NUL, lone
 * surrogates) in any string or key of any body, nesting too deep, URLs
 * that do not decode, numbers and times out of range. And the reverse:
 * when PostgreSQL will not take connections, reads answer 503 with
 * Retry-After, not 500.
 */
import { Hono } from 'hono';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { onError } from '../src/api/middleware/problem.js';
import { jsonFieldErrors } from '../src/api/json-guard.js';
import { migrate } from '../src/db/orm.js';
import { parseRfc3339 } from '../src/domain/time/rfc3339.js';
import { createHarness, uniq, type Harness } from './helpers/harness.js';
import { ownPostgres } from './helpers/procs.js';

let h: Harness;
let svc: string;
let writer: string;
let user: string;
const cleanups: Array<() => unknown> = [];
beforeAll(async () => {
  h = await createHarness({ RATE_LIMIT_USER_PER_MIN: '1000000' });
  svc = await h.serviceToken();
  writer = await h.token({ sub: uniq('writer'), scope: 'templates:write' });
  user = await h.token({ sub: 'u-edge' });
});
afterAll(async () => {
  await h.close();
  for (const c of cleanups.reverse()) await c();
});

const ok = { title: 'Stock low', content: 'Chicken is at 5 kg', user_id: 'u-edge' };
const NUL = 'x\u0000y';
const LONE_HIGH = 'x\ud800y';
const LONE_LOW = '\udc00';

/** The paths a 400 problem names. */
function badPaths(r: { status: number; body: any; headers: Headers }): string[] {
  expect(r.status, JSON.stringify(r.body).slice(0, 300)).toBe(400);
  expect(r.headers.get('content-type')).toContain('application/problem+json');
  return r.body.errors.map((e: { path: string }) => e.path);
}

describe('what PostgreSQL cannot store is refused in every string of every body', () => {
  const send = (body: unknown) => h.request('POST', '/api/v1/notifications', { token: svc, body });

  test('a NUL or a lone surrogate in a field of a send is a 400 naming the field', async () => {
    expect(badPaths(await send({ ...ok, title: NUL }))).toEqual(['title']);
    expect(badPaths(await send({ ...ok, content: LONE_HIGH }))).toEqual(['content']);
    expect(badPaths(await send({ ...ok, source: LONE_LOW }))).toEqual(['source']);
    expect(badPaths(await send({ ...ok, user_ids: ['a', NUL] }))).toEqual(['user_ids.1']);
    expect(badPaths(await send({ ...ok, idempotency_key: NUL }))).toEqual(['idempotency_key']);
  });

  test('in metadata, values and keys at any depth are named by their path', async () => {
    expect(badPaths(await send({ ...ok, metadata: { k: '\u0000' } }))).toEqual(['metadata.k']);
    expect(badPaths(await send({ ...ok, extra_data: { list: [1, { deep: LONE_HIGH }] } }))).toEqual(['extra_data.list.1.deep']);
    const key = await send({ ...ok, metadata: { 'a\u0000b': 1 } });
    expect(badPaths(key)).toEqual(['metadata.a\\u0000b']);
    expect(key.body.errors[0].message).toMatch(/key contains a NUL/);
    expect(badPaths(await send({ ...ok, metadata: { ['\ud800']: 1 } }))).toEqual(['metadata.\\ud800']);
  });

  test('a bulk of 1000 with one bad item at position 700 is refused whole, naming that item', async () => {
    const notifications = Array.from({ length: 1000 }, (_, i) => ({ ...ok, title: i === 700 ? NUL : `n${i}` }));
    const r = await h.request('POST', '/api/v1/notifications/bulk', { token: svc, body: { notifications } });
    expect(badPaths(r)).toEqual(['notifications.700.title']);
  });

  test('multi-channel, template sends, templates, schedules and recipients refuse it too (never 500 or 503)', async () => {
    const mc = await h.request('POST', '/api/v1/notifications/multi-channel', {
      token: svc,
      body: { channels: ['email'], recipient: 'a@example.com', title: 't', content: NUL },
    });
    expect(badPaths(mc)).toEqual(['content']);
    const tpl = await h.request('POST', '/api/v1/notifications/template', {
      token: svc,
      body: { template_name: 'order_ready', user_id: 'u-edge', template_vars: { order_id: NUL, pickup_code: 1 } },
    });
    expect(badPaths(tpl)).toEqual(['template_vars.order_id']);

    const name = uniq('edge');
    const created = await h.request('POST', '/api/v1/notifications/templates', { token: writer, body: { name, title: NUL, content: 'c' } });
    expect(badPaths(created)).toEqual(['title']);
    expect((await h.request('POST', '/api/v1/notifications/templates', { token: writer, body: { name, title: 't', content: 'c' } })).status).toBe(201);
    const updated = await h.request('PUT', `/api/v1/notifications/templates/${name}`, {
      token: writer,
      body: { channel_overrides: { email: { subject: LONE_HIGH } } },
    });
    expect(badPaths(updated)).toEqual(['channel_overrides.email.subject']);

    const cron = '0 9 * * *';
    expect(badPaths(await h.request('POST', '/api/v1/schedules', { token: svc, body: { cron, name: NUL, notification: ok } }))).toEqual(['name']);
    const inBody = await h.request('POST', '/api/v1/schedules', { token: svc, body: { cron, notification: { ...ok, title: NUL } } });
    expect(badPaths(inBody)).toEqual(['notification.title']);

    const rec = await h.request('PUT', '/api/v1/recipients/u-edge', { token: svc, body: { roles: ['staff', NUL] } });
    expect(badPaths(rec)).toEqual(['roles.1']);
    const prefs = await h.request('PUT', '/api/v1/preferences', { token: user, body: { channels: { ['info\u0000']: ['app'] } } });
    expect(badPaths(prefs)).toEqual(['channels.info\\u0000']);
    const marks = await h.request('POST', '/api/v1/notifications/batch-mark', { token: user, body: { ids: [NUL], action: 'read' } });
    expect(badPaths(marks)).toEqual(['ids.0']);
  });

  test('a body that is not UTF-8 (a stray byte, an encoded surrogate half) is a 400, not text with U+FFFD in it', async () => {
    for (const bad of [[0xff, 0xfe], [0xed, 0xa0, 0x80]]) {
      const body = Buffer.concat([Buffer.from('{"title":"x'), Buffer.from(bad), Buffer.from('","content":"c","user_id":"u-edge"}')]);
      const headers = { authorization: `Bearer ${svc}`, 'content-type': 'application/json' };
      const res = await h.app.request('/api/v1/notifications', { method: 'POST', headers, body });
      expect(res.status).toBe(400);
      expect(((await res.json()) as any).errors).toEqual([{ path: '(body)', message: 'is not valid UTF-8' }]);
    }
  });

  test('a number JSON cannot carry (1e400 parses as Infinity) is refused, not stored as null', async () => {
    const r = await h.request('POST', '/api/v1/notifications', { token: svc, raw: JSON.stringify(ok).replace(/}$/, ',"metadata":{"n":1e400}}') });
    expect(badPaths(r)).toEqual(['metadata.n']);
  });
});

describe('nesting depth is limited without recursion', () => {
  const nested = (levels: number, leaf = '1') => '{"a":'.repeat(levels) + leaf + '}'.repeat(levels);

  test('metadata nested 10,000 levels is a 400 naming where it got too deep, not a stack overflow', async () => {
    const raw = JSON.stringify(ok).replace(/}$/, `,"metadata":${nested(10_000)}}`);
    const r = await h.request('POST', '/api/v1/notifications', { token: svc, raw });
    const [path] = badPaths(r);
    expect(path).toBe(['metadata', ...Array(31).fill('a')].join('.'));
    expect(r.body.errors[0].message).toMatch(/deeper than 32/);
  });

  test('a body nested 200,000 levels anywhere (a schedule, an array) is a 400 too', async () => {
    const deepArray = '['.repeat(200_000) + ']'.repeat(200_000);
    const r = await h.request('POST', '/api/v1/schedules', { token: svc, raw: `{"cron":"0 9 * * *","notification":${deepArray}}` });
    expect(badPaths(r)[0]).toMatch(/^notification(\.0)+$/);
  });

  test('metadata within the limit is accepted', async () => {
    const r = await h.request('POST', '/api/v1/notifications', { token: svc, raw: JSON.stringify(ok).replace(/}$/, `,"metadata":${nested(30)}}`) });
    expect(r.status).toBe(202);
  });

  test('the walk itself holds a million levels (it keeps its own stack)', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 1_000_000; i++) deep = [deep];
    expect(jsonFieldErrors(deep)).toEqual([{ path: Array(32).fill('0').join('.'), message: 'nests deeper than 32 levels' }]);
  });
});

describe('URLs that do not decode are a 400 naming the parameter', () => {
  test('GET /recipients/%25 is an ordinary lookup of the id "%", decoded once (it was a URIError 500)', async () => {
    expect((await h.request('GET', '/api/v1/recipients/%25', { token: svc })).status).toBe(404);
    expect((await h.request('PUT', '/api/v1/recipients/%25', { token: svc, body: { email: 'pct@example.com' } })).status).toBe(200);
    expect((await h.request('GET', '/api/v1/recipients/%25', { token: svc })).body).toMatchObject({ user_id: '%', email: 'pct@example.com' });
    // decoded once: %2541 is the id "%41", not "A"
    expect((await h.request('PUT', '/api/v1/recipients/%2541', { token: svc, body: {} })).body).toMatchObject({ user_id: '%41' });
  });

  test.each([
    ['a stray %', '/api/v1/recipients/50%', 'user_id'],
    ['invalid UTF-8', '/api/v1/recipients/%E0%A4', 'user_id'],
    ['an encoded surrogate half', '/api/v1/recipients/%ED%A0%80', 'user_id'],
    ['a NUL', '/api/v1/recipients/a%00b', 'user_id'],
    ['a NUL in a template name', '/api/v1/notifications/templates/a%00b', 'ref'],
    ['a malformed query value', '/api/v1/notifications/templates?include_inactive=%E0', 'include_inactive'],
    ['a NUL in a query value', '/api/v1/notifications?since=2026-01-01T00:00:00Z%00', 'since'],
  ])('%s', async (_label, path, param) => {
    const token = path.includes('recipients') ? svc : writer;
    expect(badPaths(await h.request('GET', path, { token }))).toEqual([param]);
  });
});

describe('numbers out of range are a 400 naming the parameter', () => {
  test('since and cursor beyond bigint (they were 500s from PostgreSQL)', async () => {
    expect(badPaths(await h.request('GET', '/api/v1/notifications?since=9999999999999999999', { token: user }))).toEqual(['since']);
    expect(badPaths(await h.request('GET', '/api/v1/notifications?cursor=9999999999999999999', { token: user }))).toEqual(['cursor']);
    expect(badPaths(await h.request('GET', '/api/v1/notifications?cursor=9223372036854775808', { token: user }))).toEqual(['cursor']);
    expect((await h.request('GET', '/api/v1/notifications?cursor=9223372036854775807', { token: user })).status).toBe(200);
    expect((await h.request('GET', '/api/v1/notifications?since=9223372036854775807', { token: user })).status).toBe(200);
  });

  test('paging beyond what JavaScript counts exactly', async () => {
    expect(badPaths(await h.request('GET', '/api/v1/schedules?offset=1e20', { token: svc }))).toEqual(['offset']);
    expect(new Set(badPaths(await h.request('GET', '/api/v1/notifications?page=99999999999999999999', { token: user })))).toEqual(new Set(['page']));
  });
});

describe('times are checked against the calendar', () => {
  const send = (body: unknown) => h.request('POST', '/api/v1/notifications', { token: svc, body: { ...ok, ...(body as object) } });

  test.each([
    ['February 30', '2099-02-30T00:00:00Z'],
    ['February 29 of a year that is not leap', '2100-02-29T00:00:00Z'],
    ['April 31', '2099-04-31T09:00:00+08:00'],
    ['month 13', '2099-13-01T00:00:00Z'],
    ['hour 24', '2099-01-01T24:00:00Z'],
    ['minute 60', '2099-01-01T10:60:00Z'],
    ['second 60', '2099-01-01T10:00:60Z'],
    ['offset +24:00', '2099-01-01T10:00:00+24:00'],
    ['day 00', '2099-01-00T10:00:00Z'],
  ])('schedule_at on %s is a 400', async (_label, at) => {
    expect(badPaths(await send({ schedule_at: at }))).toEqual(['schedule_at']);
  });

  test('a real leap day, lower-case separators and a nine-digit fraction are accepted', async () => {
    const r = await send({ schedule_at: '2096-02-29T23:59:59.123456789+08:00' });
    expect(r.status).toBe(202);
    expect(r.body.schedule_at).toBe('2096-02-29T15:59:59.123Z');
    expect((await send({ schedule_at: '2096-03-01t00:00:00z' })).body.schedule_at).toBe('2096-03-01T00:00:00.000Z');
  });

  test('template sends, mute_until and since use the same strict parser', async () => {
    const tpl = await h.request('POST', '/api/v1/notifications/template', {
      token: svc,
      body: { template_name: 'order_ready', user_id: 'u-edge', template_vars: { order_id: 1, pickup_code: 2 }, schedule_at: '2099-02-30T00:00:00Z' },
    });
    expect(badPaths(tpl)).toEqual(['schedule_at']);
    const mute = await h.request('PUT', '/api/v1/preferences', { token: user, body: { mute_until: '2099-02-30T00:00:00Z' } });
    expect(badPaths(mute)).toEqual(['mute_until']);
    // an offset that carries the last day of year 9999 into year 10000 (PostgreSQL refused it: a 500)
    const past9999 = await h.request('PUT', '/api/v1/preferences', { token: user, body: { mute_until: '9999-12-31T23:59:59-23:59' } });
    expect(badPaths(past9999)).toEqual(['mute_until']);
    expect(badPaths(await h.request('GET', '/api/v1/notifications?since=2024-02-30T00:00:00Z', { token: user }))).toEqual(['since']);
    expect(badPaths(await h.request('GET', '/api/v1/notifications?since=March%207', { token: user }))).toEqual(['since']);
  });

  test('years below 100 are those years, not 19xx', () => {
    expect(parseRfc3339('0099-06-01T00:00:00Z')!.getUTCFullYear()).toBe(99);
    expect(parseRfc3339('2026-12-01T09:00:00+08:00')!.toISOString()).toBe('2026-12-01T01:00:00.000Z');
    expect(parseRfc3339('2026-12-01T09:00-05:30')!.toISOString()).toBe('2026-12-01T14:30:00.000Z');
  });
});

describe('a value PostgreSQL refuses is a 400, never "database unavailable"', () => {
  /** An app whose one route runs `sql` on the real PostgreSQL: what the api answers for that failure. */
  async function answerFor(sql: string, params: unknown[] = []) {
    const app = new Hono();
    app.onError(onError(h.deps.logger) as never);
    app.get('/q', async (c) => c.json(await h.orm.em.fork().execute(sql, params)));
    const res = await app.request('/q');
    return { status: res.status, body: (await res.json()) as any, retryAfter: res.headers.get('retry-after') };
  }

  test.each([
    ['a NUL in a text parameter (protocol violation 08P01)', "select ?::text as t", ['a\u0000b']],
    ['a NUL escape in jsonb (22P05)', `select '{"k":"\\u0000"}'::jsonb as j`, []],
    ['a number out of bigint range (22003)', 'select ?::bigint as n', ['9999999999999999999']],
    ['a calendar-invalid date (22008)', "select '2099-02-30'::date as d", []],
    ['jsonb nested past its limit (54001)', `select (repeat('[', 20000) || repeat(']', 20000))::jsonb as j`, []],
  ])('%s', async (_label, sql, params) => {
    const r = await answerFor(sql, params);
    expect(r.status).toBe(400);
    expect(r.retryAfter).toBeNull();
    expect(r.body.detail).not.toMatch(/unavailable|select/i);
  });

  test('a URIError from a decode anywhere behind the edge is a 400 too', async () => {
    const app = new Hono();
    app.onError(onError(h.deps.logger) as never);
    app.get('/u', (c) => c.text(decodeURIComponent('%')));
    const res = await app.request('/u');
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  });

  test('a query that is simply wrong is still a 500 (a bug, not bad input)', async () => {
    expect((await answerFor('select no_such_column from notifications')).status).toBe(500);
  });
});

describe('reads while PostgreSQL refuses connections answer 503 with Retry-After', () => {
  const id = '01a2468d-0b3a-7c7b-a8bb-7dd2c212561d';
  /** Every read route, with its answer: status, Retry-After and content type. */
  async function readAnswers(hh: Harness): Promise<string[]> {
    const reader = await hh.token({ sub: 'u1' });
    const sender = await hh.token({ sub: 'svc', scope: 'notify:send admin' });
    const reads: Array<[string, string]> = [
      ['/api/v1/notifications', reader],
      ['/api/v1/notifications?cursor=100', reader],
      ['/api/v1/notifications/unread-count', reader],
      ['/api/v1/notifications/stats', reader],
      ['/api/v1/notifications/grouped', reader],
      [`/api/v1/notifications/${id}`, reader],
      ['/api/v1/preferences', reader],
      ['/api/v1/notifications/templates', reader],
      ['/api/v1/notifications/templates/order_ready', reader],
      ['/api/v1/recipients/u1', sender],
      ['/api/v1/schedules', sender],
      ['/api/v1/notifications/scheduled', sender],
      [`/api/v1/notifications/${id}/deliveries`, sender],
    ];
    const out: string[] = [];
    for (const [path, token] of reads) {
      const r = await hh.request('GET', path, { token });
      out.push(`${path} ${r.status} ${r.headers.get('retry-after')} ${r.headers.get('content-type')}`);
    }
    return out;
  }
  const unavailable = (answers: string[]) => answers.map((a) => a.replace(/ \d+ .*$/, ' 503 5 application/problem+json'));

  test('not accepting connections, database gone, too many connections, password refused, server stopped: 503 on every read route', { timeout: 120_000 }, async () => {
    const db = await ownPostgres(cleanups);
    await db.start();
    await migrate({ url: db.url });
    const harnessOn = async (url: string) => {
      const hh = await createHarness({ DATABASE_URL: url });
      cleanups.push(() => hh.close());
      return hh;
    };
    const own = await harnessOn(db.url);
    const up = await readAnswers(own);
    expect(up.filter((a) => / (5\d\d) /.test(a))).toEqual([]);

    const admin = new pg.Client({ connectionString: db.url.replace(/\/herald$/, '/postgres') });
    await admin.connect();
    try {
      // the server is up but refuses this database's connections (55000); the pool's open ones are cut
      await admin.query('alter database herald allow_connections false');
      await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where datname = 'herald'`);
      expect(await readAnswers(own)).toEqual(unavailable(up));
      // the database is not there (3D000)
      await admin.query('alter database herald allow_connections true');
      await admin.query('alter database herald rename to herald_elsewhere');
      expect(await readAnswers(own)).toEqual(unavailable(up));
      await admin.query('alter database herald_elsewhere rename to herald');
      // too many connections (53300), and a password the server refuses (28P01)
      await admin.query(`create role edge_limited login password 'edge' connection limit 0`);
      const limited = await harnessOn(db.url.replace('//postgres:herald@', '//edge_limited:edge@'));
      expect(await readAnswers(limited)).toEqual(unavailable(up));
      const refused = await harnessOn(db.url.replace('//postgres:herald@', '//postgres:not-the-password@'));
      expect(await readAnswers(refused)).toEqual(unavailable(up));
    } finally {
      await admin.end();
    }
    expect(await readAnswers(own)).toEqual(up);
    // the server stopped: connections refused at the socket
    await db.stop();
    expect(await readAnswers(own)).toEqual(unavailable(up));
  });
});
