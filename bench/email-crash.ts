/**
 * bench/email-crash: what `kill -9` of the email worker in the middle of a
 * send costs, for EMAIL_ON_UNKNOWN=resend and =skip.
 *
 *   npm run bench:email-crash
 *   N=300 K=8 MODES=resend,skip RATE=1000 npm run bench:email-crash
 *   BASELINE_REF=<commit> npm run bench:email-crash     (also runs the roles of that commit, resend only)
 *
 * The real roles run as separate processes (api, ingest, the email
 * worker) against an SMTP server in this process. Each round sends N
 * emails (one per recipient), kills the email worker with SIGKILL when a
 * random share of them (20–70 %) has been accepted, starts a fresh worker
 * and waits until every delivery is settled. It counts, per kill:
 *   sending@kill   records in `sending` right after the kill (what EMAIL_ON_UNKNOWN decides on)
 *   window@kill    messages the dying worker got accepted (the server has them whole) whose `sent`
 *                  record never came: the danger window's contents
 *   dup            deliveries mailed twice (all with the same Message-ID, checked)
 *   unknown        deliveries recorded failed / unknown_outcome
 *   lost           deliveries the server never got
 *   false-failed   deliveries recorded failed although the server has them
 * and, over every delivery sent in one attempt, the time from the server
 * writing its 250 to the start of the `sent` record's statement in
 * PostgreSQL (the clocks of this process and PostgreSQL are compared first;
 * the uncertainty is printed), plus the worker's own record_ms (answer →
 * committed record) where the worker logs it.
 *
 * Same-run baselines: a bare SMTP transaction over a kept connection from
 * this process to the same server (and the time from the server's 250 to
 * the client's callback), and a bare single-row autocommit UPDATE in
 * PostgreSQL (the floor of any durable record).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { Redis } from 'ioredis';
import pg from 'pg';
import { SMTPServer } from 'smtp-server';
import { signToken } from '../src/auth/jwt.js';
import { freePort, waitHttp } from './lib/processes.js';

const N = Number(process.env.N ?? 200);
const K = Number(process.env.K ?? 5);
const MODES = (process.env.MODES ?? 'resend,skip').split(',').map((m) => m.trim()) as Array<'resend' | 'skip'>;
const RATE = process.env.RATE ?? '1000';
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/herald_bench';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const BASELINE_REF = process.env.BASELINE_REF;
const JWT_SECRET = 'bench-email-crash-secret-0123456789';
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Wall-clock ms with sub-ms resolution, comparable across processes on this machine. */
const now = () => performance.timeOrigin + performance.now();

let seed = Number(process.env.SEED ?? Date.now()) >>> 0;
/** mulberry32: SEED makes the kill points repeatable */
function random(): number {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

const pct = (xs: number[], p: number) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const ms = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)} ms` : '—');

interface Received {
  delivery: string;
  messageId: string;
  /** when the server wrote its 250 */
  t250: number;
}

/** An SMTP server that keeps, per accepted message, its delivery id, Message-ID and the instant of its 250. */
async function startSink() {
  const received: Received[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _session, callback) {
      const head: Buffer[] = [];
      let size = 0;
      stream.on('data', (c: Buffer) => {
        if (size < 8192) head.push(c);
        size += c.length;
      });
      // 'end' comes only with the terminating dot: a message cut off by a dying client is never counted
      stream.on('end', () => {
        const text = Buffer.concat(head).toString('latin1');
        const delivery = /^X-Herald-Delivery:\s*(\S+)/im.exec(text)?.[1] ?? '?';
        const messageId = /^Message-ID:\s*(\S+)/im.exec(text)?.[1] ?? '?';
        received.push({ delivery, messageId, t250: now() });
        callback();
      });
    },
  });
  // a killed worker resets its connections: that is the point, not a fault of the server
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.server.address() as AddressInfo).port, received, close: () => new Promise<void>((r) => server.close(() => r())) };
}

interface Role {
  child: ChildProcess;
  lines: string[];
  exited: Promise<void>;
}

const children = new Set<ChildProcess>();
// however this script ends, no role it started outlives it
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
});

/** A Herald process entry run from `root` (this checkout or a baseline's), its log lines kept. */
function startRole(root: string, entry: string, env: Record<string, string>): Role {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, entry)], {
    cwd: root,
    env: { ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const lines: string[] = [];
  for (const s of [child.stdout!, child.stderr!]) createInterface({ input: s }).on('line', (l) => lines.push(l));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, lines, exited };
}

async function waitLog(role: Role, msg: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!role.lines.some((l) => l.includes(`"msg":"${msg}"`))) {
    if (role.child.exitCode !== null || Date.now() > deadline) throw new Error(`${msg}: not seen\n${role.lines.slice(-20).join('\n')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function stop(role: Role, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (role.child.exitCode === null && role.child.signalCode === null) role.child.kill(signal);
  await role.exited;
}

/** PostgreSQL's clock minus ours, from the round trip with the least delay; ± half that round trip. */
async function clockOffset(db: pg.Client): Promise<{ offset: number; uncertainty: number }> {
  let best = { offset: 0, uncertainty: Infinity };
  for (let i = 0; i < 50; i++) {
    const a = now();
    const { rows } = await db.query<{ t: string }>(`select extract(epoch from clock_timestamp()) * 1000 as t`);
    const b = now();
    if ((b - a) / 2 < best.uncertainty) best = { offset: Number(rows[0].t) - (a + b) / 2, uncertainty: (b - a) / 2 };
  }
  return best;
}

/** Baseline: one message at a time over a kept SMTP connection, and the delay from the server's 250 to the client's callback. */
async function smtpBaseline(sink: Awaited<ReturnType<typeof startSink>>, count = 300) {
  const conn = new SMTPConnection({ host: '127.0.0.1', port: sink.port, logger: false });
  conn.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
  const rtt: number[] = [];
  const reply: number[] = [];
  for (let i = 0; i < count; i++) {
    const id = `baseline-${i}`;
    const raw = `From: a@bench\r\nTo: b@bench\r\nMessage-ID: <${id}@bench>\r\nX-Herald-Delivery: ${id}\r\nSubject: x\r\n\r\nbaseline\r\n`;
    const t0 = now();
    await new Promise<void>((resolve, reject) => conn.send({ from: 'a@bench', to: ['b@bench'] }, raw, (err) => (err ? reject(err) : resolve())));
    const t1 = now();
    rtt.push(t1 - t0);
    reply.push(t1 - sink.received[sink.received.length - 1].t250);
  }
  conn.quit();
  sink.received.length = 0;
  return { rtt, reply };
}

/** Baseline: a durable single-row record, one autocommit UPDATE round trip at a time. */
async function recordBaseline(db: pg.Client, count = 300): Promise<number[]> {
  const table = `bench_email_crash_${randomBytes(3).toString('hex')}`;
  await db.query(`create table ${table} (id int primary key, status text, at timestamptz)`);
  try {
    await db.query(`insert into ${table} select g, 'sending', now() from generate_series(1, ${count}) g`);
    const out: number[] = [];
    for (let i = 1; i <= count; i++) {
      const t0 = now();
      await db.query(`update ${table} set status = 'sent', at = now() where id = $1 and status = 'sending'`, [i]);
      out.push(now() - t0);
    }
    return out;
  } finally {
    await db.query(`drop table ${table}`);
  }
}

/** The roles of another commit, exported next to this checkout's node_modules (git archive reads, writes nothing to the repository). */
function exportBaseline(ref: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'herald-baseline-'));
  execFileSync('sh', ['-c', `git -C "${ROOT}" archive "${ref}" | tar -x -C "${dir}"`]);
  if (!existsSync(join(dir, 'node_modules'))) symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

interface RoundResult {
  sendingAtKill: number;
  windowAtKill: number;
  dup: number;
  unknown: number;
  lost: number;
  falseFailed: number;
  recoverMs: number;
  /** the dying worker's accepted messages per second before the kill */
  ratePerSec: number;
  /** ms, server 250 → start of the record's statement, deliveries sent in one attempt */
  toRecord: number[];
  /** ms, the worker's own answer → committed record (when it logs record_ms) */
  recordMs: number[];
  sameMessageId: boolean;
}

async function runVariant(label: string, root: string, mode: 'resend' | 'skip', sink: Awaited<ReturnType<typeof startSink>>, db: pg.Client, offset: number) {
  const prefix = `herald-bench-crash-${randomBytes(3).toString('hex')}`;
  const tenant = `bench-crash-${randomBytes(3).toString('hex')}`;
  const port = await freePort();
  const common = { DATABASE_URL, REDIS_URL, QUEUE_PREFIX: prefix, JWT_SECRET };
  const api = startRole(root, 'src/api/server.ts', { ...common, PORT: String(port) });
  const ingest = startRole(root, 'workers/ingest.ts', common);
  const workerEnv = {
    ...common,
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(sink.port),
    SMTP_FROM: 'Herald <noreply@herald.bench>',
    EMAIL_RATE_PER_SEC: RATE,
    EMAIL_ON_UNKNOWN: mode,
    CHANNEL_LOCK_MS: '2000',
    CHANNEL_STALLED_INTERVAL_MS: '500',
  };
  try {
    await waitHttp(`http://127.0.0.1:${port}/health`, 60_000);
    await waitLog(ingest, 'ingest worker started');
    const token = await signToken(JWT_SECRET, { sub: 'bench', tenant, scope: 'notify:send' });
    const call = async (method: string, path: string, body: unknown) => {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
      return res.json() as Promise<any>;
    };
    for (let u = 0; u < N; u++) await call('PUT', `/recipients/c${u}`, { email: `c${u}@example.com` });

    const rounds: RoundResult[] = [];
    for (let k = 0; k < K; k++) {
      sink.received.length = 0;
      const first = startRole(root, 'workers/email.ts', workerEnv);
      await waitLog(first, 'email worker started');
      const notifications = Array.from({ length: N }, (_, u) => ({ title: `crash ${k}`, content: `round ${k}`, user_id: `c${u}`, channels: ['email'] }));
      const { ids } = await call('POST', '/notifications/bulk', { notifications });

      // the kill comes from a timer, at no particular point of any one message
      const target = Math.max(1, Math.floor(N * (0.2 + 0.5 * random())));
      let tKill = 0;
      await new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          if (sink.received.length < target) return;
          clearInterval(timer);
          tKill = now();
          first.child.kill('SIGKILL');
          resolve();
        }, 1);
      });
      await first.exited;
      // a statement the dying worker had already sent may still commit: let it
      await new Promise((r) => setTimeout(r, 200));
      const rows = async () =>
        (
          await db.query<{ id: string; status: string; reason: string | null; attempts: number; fin: string | null }>(
            `select id, status, reason, attempts, extract(epoch from finished_at) * 1000 as fin from deliveries where notification_id = any($1::uuid[])`,
            [ids],
          )
        ).rows;
      const atKill = await rows();
      const sendingAtKill = atKill.filter((d) => d.status === 'sending').length;
      const recordedAtKill = new Set(atKill.filter((d) => d.status === 'sent').map((d) => d.id));
      // everything the server took until now came from the dying worker, also a message whose end of DATA
      // reached the server just before the kill and whose 250 went out after it
      const fromDying = new Set(sink.received.map((r) => r.delivery));
      const windowAtKill = [...fromDying].filter((id) => !recordedAtKill.has(id)).length;
      const before = sink.received.filter((r) => r.t250 < tKill);
      const ratePerSec = before.length > 1 ? ((before.length - 1) * 1000) / (before[before.length - 1].t250 - before[0].t250) : NaN;

      const recoverStart = now();
      const fresh = startRole(root, 'workers/email.ts', workerEnv);
      let final = await rows();
      const deadline = Date.now() + 120_000;
      while (final.length < N || final.some((d) => d.status === 'queued' || d.status === 'sending')) {
        if (Date.now() > deadline) throw new Error(`round ${k}: deliveries did not settle:\n${fresh.lines.slice(-10).join('\n')}`);
        await new Promise((r) => setTimeout(r, 50));
        final = await rows();
      }
      const recoverMs = now() - recoverStart;
      await stop(fresh);

      const mails = new Map<string, Received[]>();
      for (const r of sink.received) mails.set(r.delivery, [...(mails.get(r.delivery) ?? []), r]);
      const toRecord: number[] = [];
      for (const d of final) {
        const got = mails.get(d.id);
        if (d.status === 'sent' && d.attempts === 1 && d.fin && got?.length === 1) toRecord.push(Number(d.fin) - offset - got[0].t250);
      }
      const recordMs = [first, fresh].flatMap((w) =>
        w.lines.flatMap((l) => {
          const m = /"msg":"delivered"/.test(l) && /"record_ms":([\d.]+)/.exec(l);
          return m ? [Number(m[1])] : [];
        }),
      );
      rounds.push({
        sendingAtKill,
        windowAtKill,
        dup: [...mails.values()].filter((m) => m.length > 1).length,
        sameMessageId: [...mails.values()].every((m) => new Set(m.map((x) => x.messageId)).size === 1),
        unknown: final.filter((d) => d.status === 'failed' && d.reason === 'unknown_outcome').length,
        lost: final.filter((d) => !mails.has(d.id)).length,
        falseFailed: final.filter((d) => d.status === 'failed' && mails.has(d.id)).length,
        recoverMs,
        ratePerSec,
        toRecord,
        recordMs,
      });
      const r = rounds[rounds.length - 1];
      console.log(
        `  ${label.padEnd(22)} round ${k + 1}/${K}: killed at ${target}/${N} accepted (${Math.round(ratePerSec)}/s) | sending@kill ${r.sendingAtKill} | window@kill ${r.windowAtKill} | dup ${r.dup} | unknown ${r.unknown} | lost ${r.lost} | false-failed ${r.falseFailed} | settled ${(recoverMs / 1000).toFixed(1)} s after restart`,
      );
    }
    return rounds;
  } finally {
    await stop(api);
    await stop(ingest);
    await dropKeys(prefix);
  }
}

/** The variant's queues leave nothing behind in the shared Redis. */
async function dropKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    for await (const keys of redis.scanStream({ match: `${prefix}:*`, count: 1000 }) as AsyncIterable<string[]>) if (keys.length) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}

function summary(label: string, rounds: RoundResult[]) {
  const sum = (f: (r: RoundResult) => number) => rounds.reduce((t, r) => t + f(r), 0);
  const toRecord = rounds.flatMap((r) => r.toRecord);
  const recordMs = rounds.flatMap((r) => r.recordMs);
  const per = (f: (r: RoundResult) => number) => `${(sum(f) / rounds.length).toFixed(1)} (max ${Math.max(...rounds.map(f))})`;
  return [
    label,
    per((r) => r.sendingAtKill),
    per((r) => r.windowAtKill),
    String(sum((r) => r.dup)) + (rounds.every((r) => r.sameMessageId) ? '' : ' (Message-IDs differ!)'),
    String(sum((r) => r.unknown)),
    String(sum((r) => r.lost)),
    String(sum((r) => r.falseFailed)),
    `${ms(pct(toRecord, 50))} / ${ms(pct(toRecord, 99))}`,
    recordMs.length ? `${ms(pct(recordMs, 50))} / ${ms(pct(recordMs, 99))}` : '—',
    String(Math.round(pct(rounds.map((r) => r.ratePerSec), 50))),
  ];
}

async function main() {
  const db = new pg.Client({ connectionString: DATABASE_URL });
  try {
    await db.connect();
  } catch {
    // the bench database does not exist yet: the api creates and migrates it at start
    const admin = new pg.Client({ connectionString: DATABASE_URL.replace(/\/[^/]*$/, '/postgres') });
    await admin.connect();
    await admin.query(`create database ${new URL(DATABASE_URL).pathname.slice(1)}`).catch(() => undefined);
    await admin.end();
    await db.connect();
  }
  const sink = await startSink();
  const baselineRoot = BASELINE_REF ? exportBaseline(BASELINE_REF) : null;
  try {
    console.log(`bench/email-crash  N=${N} emails per round, K=${K} kills per variant, EMAIL_RATE_PER_SEC=${RATE}, seed ${seed}`);
    const clock = await clockOffset(db);
    console.log(`clocks: PostgreSQL − this process = ${clock.offset.toFixed(3)} ms (± ${clock.uncertainty.toFixed(3)} ms)`);

    const smtp = await smtpBaseline(sink);
    const record = await recordBaseline(db);
    console.log('\nsame-run baselines (p50 / p99)');
    console.log(`  bare SMTP transaction over a kept connection (MAIL … 250)  ${ms(pct(smtp.rtt, 50))} / ${ms(pct(smtp.rtt, 99))}`);
    console.log(`  server's 250 → the bare client's callback                  ${ms(pct(smtp.reply, 50))} / ${ms(pct(smtp.reply, 99))}`);
    console.log(`  bare autocommit single-row UPDATE (a durable record)       ${ms(pct(record, 50))} / ${ms(pct(record, 99))}`);

    const table: string[][] = [];
    const variants: Array<[string, string, 'resend' | 'skip']> = MODES.map((m) => [`this checkout, ${m}`, ROOT, m]);
    if (baselineRoot) variants.push([`${BASELINE_REF} (old), resend`, baselineRoot, 'resend']);
    console.log('');
    for (const [label, root, mode] of variants) table.push(summary(label, await runVariant(label, root, mode, sink, db, clock.offset)));

    const head = ['variant', 'sending@kill (avg)', 'window@kill (avg)', 'dup', 'unknown', 'lost', 'false-failed', '250 → record starts p50/p99', 'worker record_ms p50/p99', 'mails/s before the kill (median)'];
    console.log(`\n| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|`);
    for (const row of table) console.log(`| ${row.join(' | ')} |`);
    console.log(`\nThe record is durable one commit after it starts: add the bare UPDATE's ${ms(pct(record, 50))} (p50).`);
  } finally {
    await sink.close();
    await db.end();
    if (baselineRoot) rmSync(baselineRoot, { recursive: true, force: true });
  }
}

await main();
