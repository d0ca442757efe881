/**
 * Email attachments through the real roles: the api, the ingest worker and
 * the email worker as processes, a real SMTP server on loopback whose
 * messages mailparser reads, and a local HTTP server for attachment urls.
 * Files are stored once in PostgreSQL; Redis jobs and logs never see bytes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';
import { freePort, type Proc } from './helpers/procs.js';
import { spawnRole } from './helpers/roles.js';
import { startSmtpServer } from './fakes/smtp.js';
import { fetchAttachment, isPrivateAddress } from '../src/domain/attachments/fetch.js';
import { purgeUnreferencedAttachments, UNREFERENCED_GRACE_MS } from '../src/domain/attachments/retention.js';
import { saveAttachment } from '../src/domain/attachments/store.js';

/** 1 MiB a file: a send at the cap has a body larger than the api's usual 1 MiB limit. */
const MAX_BYTES = 1024 * 1024;
const FETCH_TIMEOUT_MS = 1000;

let h: Harness;
let svc: string;
let apiUrl: string;
let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
let files: { url: string; hits: Map<string, number> };
const roles: Proc[] = [];

/** The file server: /report.csv, /big (streams past the cap, no Content-Length), /slow (never answers). */
function startFileServer(): Promise<{ url: string; hits: Map<string, number> }> {
  const hits = new Map<string, number>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    hits.set(req.url!, (hits.get(req.url!) ?? 0) + 1);
    if (req.url === '/report.csv') return res.writeHead(200, { 'content-type': 'text/csv' }).end(REPORT);
    if (req.url === '/big') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024, 7);
      let sent = 0;
      const timer = setInterval(() => {
        if (res.destroyed || sent > 2 * MAX_BYTES) return clearInterval(timer), res.end();
        res.write(chunk);
        sent += chunk.length;
      }, 5);
      return;
    }
    if (req.url === '/slow') return; // headers never come
    res.writeHead(404).end();
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      h.life.add('file server', () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
      resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits });
    }),
  );
}

const REPORT = Buffer.from('day,orders\n2026-12-01,42\n2026-12-02,57\n');

beforeAll(async () => {
  h = await createHarness();
  smtp = await startSmtpServer();
  h.life.add('smtp server', () => smtp.close());
  files = await startFileServer();
  const port = await freePort();
  const env = {
    PORT: String(port),
    LOG_LEVEL: 'debug',
    ATTACHMENT_ALLOW_PRIVATE: 'true',
    ATTACHMENT_MAX_BYTES: String(MAX_BYTES),
    ATTACHMENTS_MAX_TOTAL_BYTES: String(2 * MAX_BYTES),
    ATTACHMENT_FETCH_TIMEOUT_MS: String(FETCH_TIMEOUT_MS),
    SMTP_HOST: smtp.host,
    SMTP_PORT: String(smtp.port),
    SMTP_FROM: 'Herald <noreply@herald.test>',
    EMAIL_RATE_PER_SEC: '1000',
  };
  const started = [
    ['src/api/server.ts', 'api listening'],
    ['workers/ingest.ts', 'ingest worker started'],
    ['workers/email.ts', 'email worker started'],
  ].map(([entry, line]) => {
    const proc = spawnRole(entry, { harness: h, env }, h.life);
    roles.push(proc);
    return proc.waitForLog((l) => l.msg === line, 60_000, entry);
  });
  await Promise.all(started);
  apiUrl = `http://127.0.0.1:${port}`;
  svc = await h.serviceToken();
}, 90_000);
afterAll(() => h.close());

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${svc}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** A fresh user with an email address. */
async function mailbox(label: string, extra: Record<string, unknown> = {}): Promise<{ user: string; address: string }> {
  const user = uniq(label);
  const address = `${user}@example.com`;
  expect((await api('PUT', `/api/v1/recipients/${user}`, { email: address, ...extra })).status).toBe(200);
  return { user, address };
}

const mailTo = (address: string) => waitFor(() => smtp.mails.find((m) => JSON.stringify(m.to ?? '').includes(address)), 15_000, `mail to ${address}`);

const emailDelivery = (notificationId: string) =>
  waitFor(async () => {
    const [row] = await h.orm.em.fork().execute<any[]>(`select * from deliveries where notification_id = ? and channel = 'email'`, [notificationId]);
    return row && !['queued', 'sending'].includes(row.status) ? row : null;
  }, 15_000, 'the email delivery to settle');

/** Everything under this file's queue prefix in Redis, as one text. */
async function redisText(): Promise<string> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await h.redis.scan(cursor, 'MATCH', `${h.prefix}:*`, 'COUNT', 500);
    cursor = next;
    for (const key of keys) {
      const type = await h.redis.type(key);
      if (type === 'hash') out.push(JSON.stringify(await h.redis.hgetall(key)));
      else if (type === 'string') out.push((await h.redis.get(key)) ?? '');
      else if (type === 'list') out.push(JSON.stringify(await h.redis.lrange(key, 0, -1)));
      else if (type === 'stream') out.push(JSON.stringify(await h.redis.xrange(key, '-', '+')));
    }
  } while (cursor !== '0');
  return out.join('\n');
}

/** exactly at the cap: its send's body (about 1.4 MB) passes only because sends with attachments may be larger */
const pdf = randomBytes(MAX_BYTES);
const pdfBase64 = pdf.toString('base64');

test('an inline attachment at the size cap arrives intact under its sanitised name, and neither Redis nor any log holds its bytes', async () => {
  const { user, address } = await mailbox('inline');
  const sent = await api('POST', '/api/v1/notifications', {
    title: '月度报表',
    message: '附件是本月报表',
    user_id: user,
    channels: ['app', 'email'],
    attachments: [
      { filename: '../../etc/报表 2026-12.pdf', content_type: 'application/pdf', content_base64: pdfBase64 },
      { filename: 'notes.txt', content_base64: Buffer.from('第一行\n second line').toString('base64') },
    ],
  });
  expect(sent.status).toBe(202);

  const mail = await mailTo(address);
  expect(mail.attachments.map((a) => a.filename)).toEqual(['报表 2026-12.pdf', 'notes.txt']);
  expect(mail.attachments[0].contentType).toBe('application/pdf');
  expect(Buffer.compare(mail.attachments[0].content, pdf)).toBe(0);
  expect(mail.attachments[1].content.toString()).toBe('第一行\n second line');
  expect((await emailDelivery(sent.body.id)).status).toBe('sent');

  // the notification names its files by id; the bytes are in PostgreSQL, once
  const [row] = await h.orm.em.fork().execute<any[]>(`select attachments from notifications where id = ?`, [sent.body.id]);
  expect(row.attachments[0]).toMatchObject({ filename: '报表 2026-12.pdf', content_type: 'application/pdf', size: pdf.length });
  expect(row.attachments[0].id).toMatch(/^[0-9a-f-]{36}$/);
  expect(row.attachments[0]).not.toHaveProperty('content_base64');

  // jobs carry ids: no part of the file is in Redis (ingest and email jobs are kept after completion)
  const inRedis = await redisText();
  expect(inRedis).toContain(row.attachments[0].id);
  expect(inRedis).not.toContain(pdfBase64.slice(1000, 1100));
  // and no role logged it (they log at debug here)
  for (const proc of roles) expect(proc.lines.join('\n')).not.toContain(pdfBase64.slice(1000, 1100));
});

test('the same file sent twice is stored once', async () => {
  const content = randomBytes(2048);
  const sha256 = createHash('sha256').update(content).digest('hex');
  const ids: string[] = [];
  for (const name of ['a.bin', 'b.bin']) {
    const { user } = await mailbox('twice');
    const sent = await api('POST', '/api/v1/notifications', {
      title: 'twice',
      content: 'same bytes',
      user_id: user,
      channels: ['email'],
      attachments: [{ filename: name, content_base64: content.toString('base64') }],
    });
    expect(sent.status).toBe(202);
    ids.push(sent.body.id);
  }
  const stored = await h.orm.em.fork().execute<any[]>(`select id, size from attachments where tenant = ? and sha256 = ?`, [h.tenant, sha256]);
  expect(stored).toEqual([{ id: stored[0].id, size: 2048 }]);
  const refs = await waitFor(async () => {
    const rows = await h.orm.em.fork().execute<any[]>(`select attachments from notifications where id = any(?::uuid[]) order by id`, [`{${ids.join(',')}}`]);
    return rows.length === 2 && rows.every((r) => r.attachments) ? rows.map((r) => r.attachments[0]) : null;
  });
  // one stored file, each send under its own name
  expect(refs.map((r) => [r.id, r.filename])).toEqual([
    [stored[0].id, 'a.bin'],
    [stored[0].id, 'b.bin'],
  ]);
});

test('an inline file over ATTACHMENT_MAX_BYTES is refused with 413 naming it; a bad attachment is 400 naming the field', async () => {
  const { user } = await mailbox('big');
  const tooBig = randomBytes(MAX_BYTES + 1);
  const before = await h.orm.em.fork().execute<any[]>(`select count(*)::int as n from attachments where tenant = ?`, [h.tenant]);
  const sent = await api('POST', '/api/v1/notifications', {
    title: 'big',
    content: 'too big',
    user_id: user,
    channels: ['email'],
    attachments: [
      { filename: 'ok.txt', content_base64: Buffer.from('ok').toString('base64') },
      { filename: 'big.bin', content_base64: tooBig.toString('base64') },
    ],
  });
  expect(sent.status).toBe(413);
  expect(sent.body.errors).toEqual([{ path: 'attachments.1.content_base64', message: expect.stringContaining(String(MAX_BYTES)) }]);
  const after = await h.orm.em.fork().execute<any[]>(`select count(*)::int as n from attachments where tenant = ?`, [h.tenant]);
  expect(after[0].n).toBe(before[0].n);

  const badSend = (attachments: unknown[]) => api('POST', '/api/v1/notifications', { title: 'bad', content: 'bad', user_id: user, channels: ['email'], attachments });
  const notBase64 = await badSend([{ filename: 'x.txt', content_base64: 'not base64!' }]);
  expect(notBase64.status).toBe(400);
  expect(notBase64.body.errors.map((e: { path: string }) => e.path)).toEqual(['attachments.0.content_base64']);
  const mixed = await badSend([
    { filename: 'both.txt', url: `${files.url}/report.csv`, content_base64: 'b2s=' },
    { filename: 'neither.txt' },
    { filename: '../', url: `${files.url}/report.csv` },
  ]);
  expect(mixed.status).toBe(400);
  expect(mixed.body.errors.map((e: { path: string }) => e.path)).toEqual(['attachments.0.url', 'attachments.1.url', 'attachments.2.filename']);
});

test('a url attachment is fetched once for every recipient of a role send and arrives', async () => {
  const role = uniq('managers');
  const boxes = [await mailbox('role', { roles: [role] }), await mailbox('role', { roles: [role] }), await mailbox('role', { roles: [role] })];
  const sent = await api('POST', '/api/v1/notifications', {
    title: '日报',
    content: '见附件',
    role,
    channels: ['email'],
    attachments: [{ filename: 'report.csv', url: `${files.url}/report.csv` }],
  });
  expect(sent.status).toBe(202);
  for (const { address } of boxes) {
    const mail = await mailTo(address);
    expect(mail.attachments).toHaveLength(1);
    expect(mail.attachments[0]).toMatchObject({ filename: 'report.csv', contentType: 'text/csv' });
    expect(Buffer.compare(mail.attachments[0].content, REPORT)).toBe(0);
  }
  expect(files.hits.get('/report.csv')).toBe(1);
});

test('a url past the size cap, or one that does not answer in time, fails the email as attachment_unavailable naming the file', async () => {
  for (const [path, name, why] of [
    ['/big', 'huge.iso', `more than ${MAX_BYTES} bytes`],
    ['/slow', 'slow.pdf', `within ${FETCH_TIMEOUT_MS} ms`],
  ]) {
    const { user, address } = await mailbox('unavailable');
    const started = Date.now();
    const sent = await api('POST', '/api/v1/notifications', {
      title: 'unavailable',
      content: name,
      user_id: user,
      channels: ['email'],
      attachments: [{ filename: name, url: `${files.url}${path}` }],
    });
    expect(sent.status).toBe(202);
    const delivery = await emailDelivery(sent.body.id);
    expect(delivery).toMatchObject({ status: 'failed', reason: 'attachment_unavailable', attempts: 1 });
    expect(delivery.last_error).toContain(`'${name}'`);
    expect(delivery.last_error).toContain(why);
    if (path === '/slow') expect(Date.now() - started).toBeLessThan(FETCH_TIMEOUT_MS + 5000);
    // never sent without its file
    expect(smtp.mails.some((m) => JSON.stringify(m.to ?? '').includes(address))).toBe(false);
  }
});

test('without ATTACHMENT_ALLOW_PRIVATE a url on a loopback or private address is refused, by address or by name', async () => {
  const strict = { maxBytes: MAX_BYTES, timeoutMs: FETCH_TIMEOUT_MS, allowPrivate: false };
  const port = new URL(files.url).port;
  const before = files.hits.get('/report.csv') ?? 0;
  await expect(fetchAttachment(`http://127.0.0.1:${port}/report.csv`, strict)).rejects.toThrow(/private address/);
  await expect(fetchAttachment(`http://localhost:${port}/report.csv`, strict)).rejects.toThrow(/private address/);
  await expect(fetchAttachment(`http://[::ffff:127.0.0.1]:${port}/report.csv`, strict)).rejects.toThrow(/private address/);
  await expect(fetchAttachment(`ftp://127.0.0.1/report.csv`, strict)).rejects.toThrow(/http and https only/);
  expect(files.hits.get('/report.csv') ?? 0).toBe(before);
  for (const a of ['10.1.2.3', '172.20.0.1', '192.168.1.1', '169.254.169.254', '::1', 'fd00::1', 'fe80::1', '0.0.0.0']) expect(isPrivateAddress(a)).toBe(true);
  for (const a of ['93.184.216.34', '2606:2800:220:1::1']) expect(isPrivateAddress(a)).toBe(false);
  // with the flag (as the roles here run) the same url is fetched
  const got = await fetchAttachment(`http://127.0.0.1:${port}/report.csv`, { ...strict, allowPrivate: true });
  expect(Buffer.compare(got.content, REPORT)).toBe(0);
});

test('retention deletes the files no notification names once their grace has passed, and keeps the named ones', async () => {
  const em = h.orm.em.fork();
  const orphan = await saveAttachment(em, h.tenant, { filename: 'orphan.bin', content_type: null, content: randomBytes(512) });
  const named = await h.orm.em.fork().execute<any[]>(`select distinct (a->>'id') as id from notifications n, jsonb_array_elements(n.attachments) a where n.tenant = ? and a->>'id' is not null`, [h.tenant]);
  expect(named.length).toBeGreaterThan(0);
  // within the grace nothing goes: the api stores files before ingest stores the notification naming them
  expect(await purgeUnreferencedAttachments(em, new Date(), h.tenant)).toBe(0);
  const later = new Date(Date.now() + UNREFERENCED_GRACE_MS + 60_000);
  expect(await purgeUnreferencedAttachments(em, later, h.tenant)).toBe(1);
  const left = await h.orm.em.fork().execute<any[]>(`select id from attachments where tenant = ?`, [h.tenant]);
  expect(left.map((r) => r.id)).not.toContain(orphan.id);
  expect(left.map((r) => r.id).sort()).toEqual(named.map((r) => r.id).sort());
});
