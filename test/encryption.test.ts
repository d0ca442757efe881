/**
 * Contact data encrypted at rest: recipients' addresses and device tokens,
 * delivery addresses and a direct send's raw recipient are stored sealed
 * (AES-256-GCM with a key id per value), found by blind index, opened only
 * where a message goes out, masked everywhere else (API listings, logs,
 * recorded errors), and moved from one key to the next by `npm run rekey`
 * while Herald keeps sending.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { workerConnection } from '../queues/connection.js';
import { createApp } from '../src/api/app.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { blindIndex, blindIndexes } from '../src/crypto/blind-index.js';
import { DataKeyFormatError, parseDataKeys } from '../src/crypto/keyring.js';
import { openContact } from '../src/crypto/process-keys.js';
import { isSealed, openValue, sealedKeyId, sealValue, UnsealError } from '../src/crypto/sealed-value.js';
import { maskAddress, withoutAddress } from '../src/domain/delivery/mask.js';
import { removePushTokens } from '../src/domain/delivery/recipients.js';
import { createLogger } from '../src/logger.js';
import { createIngestWorker } from '../workers/ingest-worker.js';
import pg from 'pg';
import { rekey } from '../src/crypto/rekey.js';
import { startAliyunFake } from './fakes/aliyun-sms.js';
import { startSmtpServer } from './fakes/smtp.js';
import { startChannelWorker } from './helpers/channels.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';
import { ROOT, freePort, spawnProcess, type Proc } from './helpers/procs.js';
import { roleEnv, spawnRole } from './helpers/roles.js';

const key = () => randomBytes(32).toString('base64');
const SEALED = /^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22,}$/;

/** Every form a plain address could take in text: as given, lower-cased, a phone's digits alone. */
function plainForms(addresses: string[]): string[] {
  return addresses.flatMap((a) => {
    const digits = a.replace(/\D/g, '');
    return [a.toLowerCase(), ...(/^\+?[0-9][0-9 -]+$/.test(a) ? [digits, digits.replace(/^86/, '')] : [])];
  });
}
const leaks = (text: string, addresses: string[]) => plainForms(addresses).filter((p) => text.toLowerCase().includes(p));

describe('the sealed value format (unit)', () => {
  const A = parseDataKeys(`A:${key()},B:${key()}`);

  test('a value is v1.<kid>.<iv>.<ciphertext+tag>, sealed with the first key, random each time, and opens again', () => {
    const one = sealValue(A, 'li.lei@example.com');
    const two = sealValue(A, 'li.lei@example.com');
    expect(one).toMatch(SEALED);
    expect(one.startsWith('v1.A.')).toBe(true);
    expect(one).not.toBe(two);
    expect(sealedKeyId(one)).toBe('A');
    expect(openValue(A, one)).toBe('li.lei@example.com');
    expect(openValue(A, sealValue(A, ''))).toBe('');
    expect(openValue(A, sealValue(A, '电话 +86 138 0013 8000'))).toBe('电话 +86 138 0013 8000');
  });

  test('a plain (legacy) value reads as it is, including one that merely starts with v1.', () => {
    expect(isSealed('v1.test@example.com')).toBe(false);
    expect(openValue(A, 'v1.test@example.com')).toBe('v1.test@example.com');
    expect(openValue(A, '+8613800138000')).toBe('+8613800138000');
  });

  test('a value sealed with a key not listed fails with an error naming the key id, never the value', () => {
    const other = parseDataKeys(`C:${key()}`);
    const sealed = sealValue(other, 'secret@example.com');
    const err = (() => {
      try {
        openValue(A, sealed);
      } catch (e) {
        return e as UnsealError;
      }
    })();
    expect(err).toBeInstanceOf(UnsealError);
    expect(err!.keyId).toBe('C');
    expect(err!.message).toMatch(/key 'C'.*does not list.*'A', 'B'/);
    expect(err!.message).not.toContain('secret@example.com');
  });

  test('a tampered ciphertext, tag or key id fails GCM authentication with a clear error', () => {
    const sealed = sealValue(A, 'li.lei@example.com');
    const [v, kid, iv, body] = sealed.split('.');
    const bytes = Buffer.from(body, 'base64url');
    const flip = (i: number) => {
      const b = Buffer.from(bytes);
      b[i] ^= 1;
      return [v, kid, iv, b.toString('base64url')].join('.');
    };
    expect(() => openValue(A, flip(0))).toThrow(/key 'A' failed authentication/);
    expect(() => openValue(A, flip(bytes.length - 1))).toThrow(/failed authentication/); // the tag
    // the same bytes presented as sealed with the other listed key: the header is authenticated too
    expect(() => openValue(A, [v, 'B', iv, body].join('.'))).toThrow(/key 'B' failed authentication/);
    // the right id, the wrong key behind it
    const impostor = parseDataKeys(`A:${key()}`);
    expect(() => openValue(impostor, sealed)).toThrow(UnsealError);
  });

  test('HERALD_DATA_KEYS: kid:base64key entries of 32 bytes, unique ids; the first seals; errors never echo a key', () => {
    const k = key();
    expect(parseDataKeys(` k1:${k} , k0:${randomBytes(32).toString('base64url')} `).keys.map((x) => x.id)).toEqual(['k1', 'k0']);
    expect(() => parseDataKeys('')).toThrow(DataKeyFormatError);
    expect(() => parseDataKeys(k)).toThrow(/entry 1 is not `kid:base64key`/);
    expect(() => parseDataKeys(`a.b:${k}`)).toThrow(/key id 'a.b'/);
    expect(() => parseDataKeys(`a:${k},a:${k}`)).toThrow(/listed twice/);
    expect(() => parseDataKeys(`a:${randomBytes(16).toString('base64')}`)).toThrow(/32 bytes/);
    try {
      parseDataKeys(`a:${k},b:short`);
    } catch (e) {
      expect((e as Error).message).not.toContain(k);
    }
  });

  test('configuration: required in production; a bad list stops the process naming HERALD_DATA_KEYS; elsewhere the development key, flagged', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'a-production-secret-of-length' })).toThrow(/HERALD_DATA_KEYS: required when NODE_ENV=production/);
    expect(() => loadConfig({ HERALD_DATA_KEYS: 'nonsense' })).toThrow(ConfigError);
    expect(() => loadConfig({ HERALD_DATA_KEYS: 'nonsense' })).toThrow(/HERALD_DATA_KEYS/);
    const prod = loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'a-production-secret-of-length', HERALD_DATA_KEYS: `k1:${key()}` });
    expect(prod.dataKeysAreDefault).toBe(false);
    const dev = loadConfig({ NODE_ENV: 'development' });
    expect(dev.dataKeysAreDefault).toBe(true);
    expect(parseDataKeys(dev.HERALD_DATA_KEYS).primary.id).toBe('dev');
  });

  test('blind indexes: emails without case or spaces, phones as given, kinds apart, one per listed key', () => {
    expect(blindIndex(A, 'email', ' Li.Lei@Example.com ')).toBe(blindIndex(A, 'email', 'li.lei@example.com'));
    expect(blindIndex(A, 'phone', '+8613800138000')).not.toBe(blindIndex(A, 'phone', '8613800138000'));
    expect(blindIndex(A, 'email', 'x@example.com')).not.toBe(blindIndex(A, 'address', 'x@example.com'));
    const both = blindIndexes(A, 'email', 'li.lei@example.com');
    expect(both).toHaveLength(2);
    expect(both[0]).toBe(blindIndex(A, 'email', 'li.lei@example.com'));
    expect(both[1]).toBe(blindIndex(parseDataKeys(A.keys.map((k) => `${k.id}:${k.key.toString('base64')}`).reverse().join(',')), 'email', 'li.lei@example.com'));
  });

  test('masks keep enough to tell addresses apart; provider errors lose the address in every form', () => {
    expect(maskAddress('li.lei@example.com')).toBe('l***@example.com');
    expect(maskAddress('+8613800138000')).toBe('+86*******8000');
    expect(maskAddress('https://hooks.example.com/t/secret?k=1')).toBe('https://hooks.example.com/***');
    expect(maskAddress('fcm-device-token-1,apns:a1b2c3d4e5f6')).toBe('fcm-***,apns:a1b2***');
    expect(withoutAddress('550 5.1.1 <LI.LEI@example.com>: Recipient address rejected', 'li.lei@example.com')).toBe(
      '550 5.1.1 <l***@example.com>: Recipient address rejected',
    );
    expect(withoutAddress('bad number 8613800138000 / 13800138000', '+86 138-0013-8000')).not.toMatch(/13800138000/);
  });
});

/**
 * A real SMTP server on loopback that takes every mail except to bounce-*
 * mailboxes, which it refuses at RCPT TO quoting the address, as Postfix
 * does ("550 5.1.1 <x@y>: Recipient address rejected").
 */
async function startBouncingSmtp() {
  const mails: ParsedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo(address, _session, callback) {
      if (address.address.startsWith('bounce-'))
        return callback(Object.assign(new Error(`5.1.1 <${address.address}>: Recipient address rejected: User unknown`), { responseCode: 550 }));
      callback();
    },
    onData(stream, _session, callback) {
      simpleParser(stream)
        .then((m) => {
          mails.push(m);
          callback();
        })
        .catch(callback);
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    host: '127.0.0.1',
    port: (server.server.address() as AddressInfo).port,
    mails,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const mailTo = (mails: ParsedMail[], address: string) => mails.filter((m) => JSON.stringify(m.to ?? '').toLowerCase().includes(address.toLowerCase()));

describe('through the api, the ingest worker and the email and SMS workers (one process, logs captured)', () => {
  let h: Harness;
  let app: ReturnType<typeof createApp>;
  let smtp: Awaited<ReturnType<typeof startBouncingSmtp>>;
  let aliyun: Awaited<ReturnType<typeof startAliyunFake>>;
  let svc: string;
  const logLines: string[] = [];
  const user = uniq('u-enc');
  const EMAIL = `${user}@example.com`;
  const PHONE = `+86138${String(Date.now()).slice(-8)}`;
  const ADDRESSES = {
    email: EMAIL,
    phone: PHONE,
    wecom_user_id: `wx-${user}`,
    feishu_open_id: `ou_${user}`,
    push_tokens: [`fcm-${user}-a`, `fcm-${user}-b`],
    webhook_url: `https://hooks.example.com/${user}/secret`,
  };
  const APNS = `a1b2c3${randomBytes(8).toString('hex')}`;
  const WALK_IN = `walk-${user}@example.com`;
  const BOUNCE = `bounce-${user}@example.com`;
  const every = () => [EMAIL, PHONE, ADDRESSES.wecom_user_id, ADDRESSES.feishu_open_id, ...ADDRESSES.push_tokens, ADDRESSES.webhook_url, APNS, WALK_IN, BOUNCE];

  const request = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await app.request(path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json().catch(() => null)) as any };
  };
  const send = async (path: string, body: Record<string, unknown>) => {
    const text = path.endsWith('/template') ? {} : { title: 'Order ready', content: 'Your order is ready' };
    const r = await request('POST', path, svc, { ...text, ...body });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    return r.body.id as string;
  };
  const settled = (id: string) =>
    waitFor(async () => {
      const rows = await h.orm.em.fork().execute<any[]>(`select status from deliveries where notification_id = ?`, [id]);
      return rows.length > 0 && rows.every((r) => r.status === 'sent' || r.status === 'failed') ? rows : null;
    }, 20_000, `deliveries of ${id} to settle`);

  beforeAll(async () => {
    h = await createHarness();
    // every component of this world logs at debug into one captured destination
    const logger = createLogger({ LOG_LEVEL: 'debug', PRETTY_LOGS: false }, 'test', { write: (s: string) => void logLines.push(s) });
    h.deps.logger = logger;
    app = createApp({ ...h.deps, logger });
    [smtp, aliyun] = await Promise.all([startBouncingSmtp(), startAliyunFake({ LTAIenc: 'enc-secret' })]);
    h.life.add('fakes', async () => {
      await smtp.close();
      await aliyun.close();
    });
    const connection = workerConnection(h.config.REDIS_URL);
    const publisher = workerConnection(h.config.REDIS_URL);
    const ingest = createIngestWorker({ orm: h.orm, redis: publisher, prefix: h.prefix, logger, queues: h.deps.queues, connection, orderWaitMs: 0 }, { concurrency: 20 });
    h.life.add('ingest', async () => {
      await ingest.close();
      await connection.quit();
      await publisher.quit();
    });
    await Promise.all([
      startChannelWorker(h, 'email', { SMTP_HOST: smtp.host, SMTP_PORT: String(smtp.port), SMTP_FROM: 'noreply@herald.test' }),
      startChannelWorker(h, 'sms', {
        ALIYUN_ACCESS_KEY: 'LTAIenc',
        ALIYUN_ACCESS_SECRET: 'enc-secret',
        ALIYUN_SMS_SIGN: 'Herald',
        ALIYUN_SMS_TEMPLATE_CODE: 'SMS_1',
        ALIYUN_SMS_ENDPOINT: aliyun.endpoint,
      }),
    ]);
    svc = await h.serviceToken('admin');
    expect((await request('PUT', `/api/v1/recipients/${user}`, svc, ADDRESSES)).status).toBe(200);
    const me = await h.token({ sub: user });
    expect((await request('PUT', '/api/v1/me/push-tokens', me, { token: APNS, platform: 'apns' })).status).toBe(200);
  });
  afterAll(() => h.close());

  test('the api answers the record in clear to whoever manages it; input that looks sealed is refused naming the field', async () => {
    const r = await request('GET', `/api/v1/recipients/${user}`, svc);
    expect(r.body).toMatchObject({ ...ADDRESSES, push_tokens: ADDRESSES.push_tokens });
    const me = await h.token({ sub: user });
    const own = await request('GET', `/api/v1/recipients/${user}`, me);
    expect(own.body.email).toBe(EMAIL);
    const bad = await request('PUT', `/api/v1/recipients/${uniq('u')}`, svc, { wecom_user_id: sealValue(parseDataKeys(`x:${key()}`), 'zhangsan') });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([{ path: 'wecom_user_id', message: expect.stringMatching(/encrypted value/) }]);
  });

  test('sends by user id, by the known email, by the known phone and by template reach the fakes at the right addresses', async () => {
    const byId = await send('/api/v1/notifications', { user_id: user, channels: ['email', 'sms'], title: 'by-id' });
    // a bare email and a bare phone of a known recipient: found by blind index, reached on the recipient's other channels too
    const byEmail = await send('/api/v1/notifications/multi-channel', { recipient: EMAIL.toUpperCase(), channels: ['email', 'sms'], title: 'by-email' });
    const byPhone = await send('/api/v1/notifications/multi-channel', { recipient: PHONE, channels: ['email', 'sms'], title: 'by-phone' });
    const byTemplate = await send('/api/v1/notifications/template', {
      template_name: 'inventory_low',
      recipient: EMAIL,
      template_vars: { item_name: 'rice', current_stock: 2 },
      channels: ['email'],
    });
    for (const id of [byId, byEmail, byPhone, byTemplate]) expect((await settled(id)).map((r) => r.status)).toEqual(expect.arrayContaining(['sent']));
    for (const title of ['by-id', 'by-email', 'by-phone']) {
      await waitFor(() => mailTo(smtp.mails, EMAIL).some((m) => m.subject === title), 10_000, `mail ${title}`);
      await waitFor(() => aliyun.sent.some((s) => s.phone === PHONE.slice(1) && JSON.stringify(s.templateParam).includes(title)), 10_000, `sms ${title}`);
    }
    // the template send went to the user (an inbox row), not straight to the address
    const [n] = await h.orm.em.fork().execute<any[]>(`select user_id from notifications where id = ?`, [byTemplate]);
    expect(n.user_id).toBe(user);
    expect(mailTo(smtp.mails, EMAIL).length).toBeGreaterThanOrEqual(4);
    // the multi-channel records name the user, not the address
    const rows = await h.orm.em.fork().execute<any[]>(`select recipient, direct from deliveries where notification_id = any(?::uuid[])`, [`{${byEmail},${byPhone}}`]);
    expect(rows.every((r) => r.recipient === user && !r.direct)).toBe(true);
  });

  test('an address nobody has goes straight to it; a refused mailbox and a missing SMS address fail without the address in the record', async () => {
    const walkIn = await send('/api/v1/notifications/multi-channel', { recipient: WALK_IN, channels: ['email', 'sms'], title: 'walk-in' });
    const bounce = await send('/api/v1/notifications/multi-channel', { recipient: BOUNCE, channels: ['email'], title: 'bounce' });
    await settled(walkIn);
    const [b] = await settled(bounce);
    expect(b.status).toBe('failed');
    await waitFor(() => mailTo(smtp.mails, WALK_IN).length === 1, 10_000, 'the walk-in mail');
    const records = await h.orm.em.fork().execute<any[]>(`select channel, status, reason, last_error from deliveries where notification_id = any(?::uuid[]) order by channel`, [`{${walkIn},${bounce}}`]);
    expect(records).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ channel: 'sms', status: 'failed', reason: 'no_address', last_error: expect.stringContaining('w***@example.com') }),
        expect.objectContaining({ channel: 'email', status: 'failed', last_error: expect.stringContaining('b***@example.com') }),
      ]),
    );
    // the API lists the records with the addresses masked
    const listed = await request('GET', `/api/v1/notifications/${walkIn}/deliveries`, svc);
    expect(listed.body.deliveries).toEqual(
      expect.arrayContaining([expect.objectContaining({ channel: 'email', recipient: 'w***@example.com', address: 'w***@example.com', status: 'sent' })]),
    );
  });

  test('(a) every contact column, token and delivery address is ciphertext: no row of the tenant holds any address in clear', async () => {
    const em = h.orm.em.fork();
    const [r] = await em.execute<any[]>(`select * from recipients where tenant = ? and user_id = ?`, [h.tenant, user]);
    for (const c of ['email', 'phone', 'wecom_user_id', 'feishu_open_id', 'webhook_url']) expect(r[c], c).toMatch(SEALED);
    expect(r.push_tokens).toHaveLength(2);
    expect(r.apns_tokens).toHaveLength(1);
    for (const t of [...r.push_tokens, ...r.apns_tokens]) expect(t).toMatch(SEALED);
    expect(r.email_bidx).toBe(blindIndex(parseDataKeys(h.config.HERALD_DATA_KEYS), 'email', EMAIL));
    expect(openContact(r.email)).toBe(EMAIL);

    const deliveries = await em.execute<any[]>(`select * from deliveries where tenant = ?`, [h.tenant]);
    expect(deliveries.length).toBeGreaterThanOrEqual(10);
    for (const d of deliveries) {
      if (d.address !== null) expect(d.address).toMatch(SEALED);
      if (d.direct) expect(d.recipient).toMatch(SEALED);
    }
    for (const table of ['recipients', 'deliveries', 'notifications', 'dev_outbox']) {
      const rows = await em.execute<Array<{ t: string }>>(`select row_to_json(x)::text as t from ${table} x where tenant = ?`, [h.tenant]);
      const text = rows.map((x) => x.t).join('\n');
      expect(leaks(text, every()), table).toEqual([]);
    }
  });

  test('a dead device token is found among the sealed ones and removed; the user can remove one by name', async () => {
    const me = await h.token({ sub: user });
    expect((await request('DELETE', `/api/v1/me/push-tokens/${ADDRESSES.push_tokens[0]}`, me)).status).toBe(200);
    expect((await request('DELETE', `/api/v1/me/push-tokens/${ADDRESSES.push_tokens[0]}`, me)).status).toBe(404);
    await removePushTokens(h.orm.em.fork(), h.tenant, user, [`apns:${APNS}`]);
    const [r] = await h.orm.em.fork().execute<any[]>(`select push_tokens, apns_tokens from recipients where tenant = ? and user_id = ?`, [h.tenant, user]);
    expect(r.apns_tokens).toEqual([]);
    expect(r.push_tokens.map(openContact)).toEqual([ADDRESSES.push_tokens[1]]);
    expect(r.push_tokens[0]).toMatch(SEALED);
  });

  test('(d) nothing logged while sending, failing and failing over holds an address in clear', () => {
    expect(logLines.length).toBeGreaterThan(20);
    const text = logLines.join('');
    // the failures were logged (so the check below looked at them)
    expect(text).toContain('delivery failed');
    expect(text).toContain('b***@example.com');
    expect(leaks(text, every())).toEqual([]);
  });
});

describe('rekey against writers (one process)', () => {
  let h: Harness;
  const BA = parseDataKeys(`B:${key()},A:${key()}`);
  const B = parseDataKeys(BA.keys[0].id + ':' + BA.keys[0].key.toString('base64'));
  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(() => h.close());

  test('a row a writer holds is skipped, not waited for, and resealed from what the writer committed: the write is not lost', async () => {
    const user = uniq('held');
    await h.orm.em.fork().execute(`insert into recipients (tenant, user_id, email, wecom_user_id) values (?, ?, 'held@example.com', 'wx-old')`, [h.tenant, user]);
    const writer = new pg.Client({ connectionString: h.config.DATABASE_URL });
    await writer.connect();
    try {
      // a write in flight: its transaction holds the row while rekey runs
      await writer.query('begin');
      await writer.query(`update recipients set wecom_user_id = $1 where tenant = $2 and user_id = $3`, [sealValue(BA, 'wx-new'), h.tenant, user]);
      const run = rekey(h.orm.em.fork(), BA, { tenant: h.tenant, batchSize: 5, passPauseMs: 150 });
      await new Promise((r) => setTimeout(r, 400));
      await writer.query('commit');
      const [report] = await run;
      expect(report).toMatchObject({ table: 'recipients', resealed: 1, remaining: 0 });
    } finally {
      await writer.end();
    }
    const [r] = await h.orm.em.fork().execute<any[]>(`select * from recipients where tenant = ? and user_id = ?`, [h.tenant, user]);
    expect(openValue(B, r.wecom_user_id)).toBe('wx-new');
    expect(openValue(B, r.email)).toBe('held@example.com');
    expect(r.email_bidx).toBe(blindIndex(B, 'email', 'held@example.com'));
  });

  test('a value sealed with a key no longer listed is reported, left as it is, and counted as remaining', async () => {
    const user = uniq('lost');
    const C = parseDataKeys(`C:${key()}`);
    await h.orm.em.fork().execute(`insert into recipients (tenant, user_id, email) values (?, ?, ?)`, [h.tenant, user, sealValue(C, 'lost@example.com')]);
    const [report] = await rekey(h.orm.em.fork(), BA, { tenant: h.tenant, maxPasses: 1 });
    expect(report.unreadable).toEqual([{ tenant: h.tenant, user_id: user, key_id: 'C' }]);
    expect(report.remaining).toBe(1);
    await h.orm.em.fork().execute(`delete from recipients where tenant = ? and user_id = ?`, [h.tenant, user]);
  });
});

describe('(c) key rotation while sending: A → A,B → B,A + rekey → B, every role restarted one at a time', () => {
  let h: Harness;
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let aliyun: Awaited<ReturnType<typeof startAliyunFake>>;
  const cleanups: Array<() => unknown> = [];
  const A = `A:${key()}`;
  const B = `B:${key()}`;
  const procs: Proc[] = [];

  beforeAll(async () => {
    h = await createHarness();
    [smtp, aliyun] = await Promise.all([startSmtpServer(), startAliyunFake({ LTAIrot: 'rot-secret' })]);
    h.life.add('fakes', async () => {
      await smtp.close();
      await aliyun.close();
    });
  });
  afterAll(async () => {
    for (const f of cleanups.reverse()) await f();
    await h.close();
  });

  const ROLES = [
    { name: 'api', entry: 'src/api/server.ts', ready: 'api listening' },
    { name: 'ingest', entry: 'workers/ingest.ts', ready: 'ingest worker started' },
    { name: 'email', entry: 'workers/email.ts', ready: 'email worker started' },
    { name: 'sms', entry: 'workers/sms.ts', ready: 'sms worker started' },
  ] as const;

  async function startRole(role: (typeof ROLES)[number], keys: string): Promise<{ proc: Proc; url?: string }> {
    const port = role.name === 'api' ? await freePort() : undefined;
    const proc = spawnRole(
      role.entry,
      {
        harness: h,
        env: {
          HERALD_DATA_KEYS: keys,
          LOG_LEVEL: 'debug',
          ...(port ? { PORT: String(port) } : {}),
          SMTP_HOST: smtp.host,
          SMTP_PORT: String(smtp.port),
          SMTP_FROM: 'noreply@herald.test',
          ALIYUN_ACCESS_KEY: 'LTAIrot',
          ALIYUN_ACCESS_SECRET: 'rot-secret',
          ALIYUN_SMS_SIGN: 'Herald',
          ALIYUN_SMS_TEMPLATE_CODE: 'SMS_1',
          ALIYUN_SMS_ENDPOINT: aliyun.endpoint,
        },
      },
      cleanups,
    );
    procs.push(proc);
    await proc.waitForLog((l) => l.msg === role.ready, 90_000, `${role.name} to start`);
    return { proc, url: port ? `http://127.0.0.1:${port}` : undefined };
  }

  function runRekey(keys: string): Promise<{ code: number | string; out: string }> {
    const p = spawnProcess(process.execPath, ['--import', 'tsx', `${ROOT}/scripts/rekey.ts`, '--tenant', h.tenant, '--batch', '7'], roleEnv({
      DATABASE_URL: h.config.DATABASE_URL,
      HERALD_DATA_KEYS: keys,
    }));
    cleanups.push(() => p.stop('SIGKILL'));
    return p.exited.then((code) => ({ code, out: p.lines.join('\n') }));
  }

  test('every notification sent is delivered, every value ends under B, no concurrent write is lost, and rekey is idempotent', { timeout: 300_000 }, async () => {
    const running = new Map<string, { proc: Proc; url?: string }>();
    for (const role of ROLES) running.set(role.name, await startRole(role, A));
    let api = running.get('api')!.url!;
    const svc = await h.serviceToken();

    const call = async (method: string, path: string, body: unknown): Promise<any> => {
      // a send made while the api is being swapped is retried, as a client would
      for (let i = 0; ; i++) {
        try {
          const res = await fetch(`${api}${path}`, {
            method,
            headers: { authorization: `Bearer ${svc}`, 'content-type': 'application/json' },
            body: JSON.stringify(body),
          });
          if (res.status >= 500 && i < 20) throw new Error(`status ${res.status}`);
          return { status: res.status, body: await res.json() };
        } catch (err) {
          if (i >= 20) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };

    const users = Array.from({ length: 6 }, (_, i) => ({ id: uniq(`rot${i}`), email: `${uniq(`rot${i}`)}@example.com`, phone: `+86139${String(10_000_000 + i * 1111 + Math.floor(Math.random() * 1000)).slice(-8)}` }));
    for (const u of users) expect((await call('PUT', `/api/v1/recipients/${u.id}`, { email: u.email, phone: u.phone, wecom_user_id: 'wx-0' })).status).toBe(200);
    // a row written before encryption existed: plain values, no blind index
    const legacy = { id: uniq('legacy'), email: `${uniq('legacy')}@example.com`, phone: '+8613700001234' };
    await h.orm.em.fork().execute(`insert into recipients (tenant, user_id, email, phone, push_tokens) values (?, ?, ?, ?, '{legacy-device}')`, [h.tenant, legacy.id, legacy.email, legacy.phone]);
    const everyone = [...users, legacy];

    // the traffic: sends by user id, by a known email (blind index), a bare address nobody has; and record updates
    const expected = { mails: new Map<string, string>(), sms: new Map<string, string>() };
    const lastWecom = new Map<string, string>();
    let n = 0;
    let stop = false;
    const traffic = (async () => {
      while (!stop) {
        const i = n++;
        const u = everyone[i % everyone.length];
        const title = `t-${i}`;
        const kind = i % 4;
        if (kind === 0) {
          expect((await call('POST', '/api/v1/notifications', { title, content: 'c', user_id: u.id, channels: ['email', 'sms'] })).status).toBe(202);
          expected.mails.set(title, u.email);
          expected.sms.set(title, u.phone.replace(/^\+/, ''));
        } else if (kind === 1) {
          expect((await call('POST', '/api/v1/notifications/multi-channel', { title, content: 'c', recipient: u.email, channels: ['sms'] })).status).toBe(202);
          expected.sms.set(title, u.phone.replace(/^\+/, ''));
        } else if (kind === 2) {
          const walkIn = `walk-${i}-${h.tenant}@example.com`;
          expect((await call('POST', '/api/v1/notifications/multi-channel', { title, content: 'c', recipient: walkIn, channels: ['email'] })).status).toBe(202);
          expected.mails.set(title, walkIn);
        } else if (users.indexOf(u) >= 0 && users.indexOf(u) < 3) {
          // the same addresses, a new WeCom id: a write racing rekey over the same row (the other users are never
          // rewritten, so only rekey can move them to B)
          const r = await call('PUT', `/api/v1/recipients/${u.id}`, { email: u.email, phone: u.phone, wecom_user_id: `wx-${i}` });
          expect(r.status).toBe(200);
          lastWecom.set(u.id, `wx-${i}`);
        }
        await new Promise((r) => setTimeout(r, 40));
      }
    })();

    /** Restarts every role, one at a time, with `keys`: the new process is ready before the old one is stopped. */
    const rollTo = async (keys: string) => {
      for (const role of ROLES) {
        const fresh = await startRole(role, keys);
        const old = running.get(role.name)!;
        running.set(role.name, fresh);
        if (fresh.url) api = fresh.url;
        await old.proc.stop('SIGTERM');
      }
    };

    await new Promise((r) => setTimeout(r, 1500));
    await rollTo(`${A},${B}`); // every process learns B before anything is sealed with it
    await rollTo(`${B},${A}`); // B seals from now on
    const first = await runRekey(`${B},${A}`); // while the traffic goes on
    expect(first.code, first.out).toBe(0);
    expect(first.out).toMatch(/recipients: \d+ rows resealed, 0 left under another key/);
    expect(first.out).toMatch(/deliveries: \d+ rows resealed, 0 left under another key/);
    // the users nobody rewrote, and the legacy row, at least
    expect(Number(/recipients: (\d+) rows resealed, 0 left/.exec(first.out)![1])).toBeGreaterThanOrEqual(everyone.length - 3);
    await rollTo(B); // A is gone
    await new Promise((r) => setTimeout(r, 1500));
    stop = true;
    await traffic;
    expect(n).toBeGreaterThan(40);

    // every send delivered, to the right address
    await waitFor(async () => {
      const [c] = await h.orm.em.fork().execute<any[]>(`select count(*) filter (where status <> 'sent') as open, count(*) as total from deliveries where tenant = ?`, [h.tenant]);
      return Number(c.open) === 0 && Number(c.total) >= expected.mails.size + expected.sms.size ? c : null;
    }, 60_000, 'every delivery to be sent');
    for (const [title, to] of expected.mails)
      expect(smtp.mails.filter((m) => m.subject === title).map((m) => JSON.stringify(m.to).includes(to)), title).toEqual([true]);
    for (const [title, phone] of expected.sms)
      expect(aliyun.sent.filter((s) => JSON.stringify(s.templateParam).includes(`"${title}"`)).map((s) => s.phone), title).toEqual([phone]);

    // every value reads under B; the last write of each row survived rekey
    const keysB = parseDataKeys(B);
    const em = h.orm.em.fork();
    const recipients = await em.execute<any[]>(`select * from recipients where tenant = ?`, [h.tenant]);
    expect(recipients).toHaveLength(everyone.length);
    for (const r of recipients) {
      for (const v of [r.email, r.phone, r.wecom_user_id, ...r.push_tokens].filter((x) => x !== null)) expect(sealedKeyId(v), r.user_id).toBe('B');
      const u = everyone.find((x) => x.id === r.user_id)!;
      expect(openValue(keysB, r.email)).toBe(u.email);
      expect(r.email_bidx).toBe(blindIndex(keysB, 'email', u.email));
      expect(r.phone_bidx).toBe(blindIndex(keysB, 'phone', u.phone));
      if (lastWecom.has(r.user_id)) expect(openValue(keysB, r.wecom_user_id)).toBe(lastWecom.get(r.user_id));
    }
    expect(openValue(keysB, recipients.find((r) => r.user_id === legacy.id).push_tokens[0])).toBe('legacy-device');
    const deliveries = await em.execute<any[]>(`select address, recipient, direct from deliveries where tenant = ?`, [h.tenant]);
    for (const d of deliveries) {
      expect(sealedKeyId(d.address)).toBe('B');
      if (d.direct) expect(sealedKeyId(d.recipient)).toBe('B');
    }
    // the legacy row, rekeyed, is still found by its email
    const found = await call('POST', '/api/v1/notifications/multi-channel', { title: 'after', content: 'c', recipient: legacy.email, channels: ['sms'] });
    expect(found.status).toBe(202);
    await waitFor(() => aliyun.sent.some((s) => s.phone === legacy.phone.slice(1) && JSON.stringify(s.templateParam).includes('"after"')), 20_000, 'the legacy row found by email after rekey');

    // nothing the processes logged holds an address in clear
    const logged = procs.flatMap((p) => p.lines).join('\n');
    expect(leaks(logged, [...everyone.flatMap((u) => [u.email, u.phone]), ...[...expected.mails.values()]])).toEqual([]);

    // idempotent: a second run has nothing to do
    const again = await runRekey(B);
    expect(again.code, again.out).toBe(0);
    expect(again.out).toContain('done: 0 rows resealed');
  });
});
