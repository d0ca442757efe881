/**
 * One row of bench/faults: fresh users with their addresses and connected
 * clients, a steady send load, the fault, then a drain (until everything
 * accepted is stored, delivered and framed, or a timeout) and the figures.
 * Rows are independent: each has its own users and marks its sends with its
 * name, so it counts only what it sent.
 */
import { readFileSync } from 'node:fs';
import type { Pool } from 'pg';
import type { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import type { ExternalChannel } from '../../queues/jobs.js';
import { QUEUE } from '../../queues/names.js';
import { signToken } from '../../src/auth/jwt.js';
import { FrameTracker } from './frame-tracker.js';
import type { OwnedServer } from './owned-servers.js';
import { EXTERNAL_CHANNELS, type ProviderFakes } from './provider-fakes.js';
import { SendLoad, titleOf, type SendRecord } from './send-load.js';
import type { Supervisor } from './supervisor.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

export interface Bench {
  apiUrl: string;
  /** ws://127.0.0.1:<WS_PORT> */
  wsUrl: string;
  /** http://127.0.0.1:<WS_PORT> (the node's /ready) */
  wsHttpUrl: string;
  secret: string;
  prefix: string;
  db: Pool;
  /** the bench's own connection to the Redis it owns (queue checks, injected jobs) */
  redis: Redis;
  pg: OwnedServer;
  redisServer: OwnedServer & { pause(): void; resume(): void; logPath: string };
  sup: Supervisor;
  fakes: ProviderFakes;
  tenants: Array<{ tenant: string; token: string }>;
  /** sends per second in all */
  rate: number;
  usersPerTenant: number;
  restartDelayMs: number;
  /** load before the fault, and after it is over */
  leadMs: number;
  tailMs: number;
  /** longest wait for stragglers after the load stops */
  drainMs: number;
  /** aborted when the bench is interrupted: rows stop waiting */
  signal: AbortSignal;
  log(line: string): void;
}

export interface FaultTimes {
  /** when the fault began (ms since the epoch) */
  at: number;
  /** from when sends count as sent "after" it (a PostgreSQL stop takes effect when the server has exited) */
  effective: number;
  /** when the fault was over (the killed process running again, the server back) */
  over: number;
}

export interface Run {
  row: string;
  /** per tenant, its users in this row */
  users: string[][];
  load: SendLoad;
  trackers: Map<string, FrameTracker>;
  /** notifications accepted by another way than this row's HTTP load (jobs put straight in the queue) */
  injected: SendRecord[];
  notes: string[];
  /** replaces the computed time to recover (a storm's is until every socket is welcomed; null: never) */
  recoverMs?: number | null;
}

export interface Fault {
  name: string;
  /** one line for the table's legend */
  what: string;
  /** a channel row: a third of the sends also go out on it, and recovery waits for its deliveries */
  channel?: ExternalChannel;
  /** recovery counts recurring-schedule occurrences (made by the scheduler) instead of HTTP sends */
  recurring?: boolean;
  before?(b: Bench, run: Run): Promise<void>;
  inject(b: Bench, run: Run): Promise<FaultTimes>;
  after?(b: Bench, run: Run): Promise<void>;
}

export interface RowResult {
  name: string;
  accepted: number;
  refused: number;
  stored: number;
  lost: number;
  dupInbox: number;
  deliveriesDue: number;
  deliveriesDone: number;
  dupSends: number;
  framesDue: number;
  framesMissed: number;
  dupFrames: number;
  recoverMs: number | null;
  caughtUpMs: number | null;
  notes: string[];
  seconds: number;
}

// ---------------------------------------------------------------- readiness

const QUEUE_OF_ROLE: Record<string, string> = {
  ingest: QUEUE.ingest,
  email: QUEUE.email,
  sms: QUEUE.sms,
  wechat: QUEUE.wechat,
  feishu: QUEUE.feishu,
  push: QUEUE.push,
  webhook: QUEUE.webhook,
  scheduler: QUEUE.recurring,
};

async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(2000) })).ok;
  } catch {
    return false;
  }
}

/** A role is ready when it serves (api, realtime: /ready answers 200) or its queue has a worker again. */
export async function roleReady(b: Bench, role: string): Promise<boolean> {
  if (!b.sup.running(role)) return false;
  if (role === 'api') return answers(`${b.apiUrl}/ready`);
  if (role === 'realtime') return answers(`${b.wsHttpUrl}/ready`);
  const name = QUEUE_OF_ROLE[role];
  if (!name) return true;
  let queues = queuesOf.get(b);
  if (!queues) queuesOf.set(b, (queues = new Map()));
  let q = queues.get(name);
  if (!q) {
    queues.set(name, (q = new Queue(name, { connection: b.redis, prefix: b.prefix })));
    // Redis restarts are part of the bench: the connection's errors are expected, not news
    q.on('error', () => undefined);
  }
  try {
    return (await Promise.race([q.getWorkersCount(), sleep(2000).then(() => 0)])) > 0;
  } catch {
    return false;
  }
}

/** The queues roleReady reads, one each per bench (they share the bench's Redis connection). */
const queuesOf = new WeakMap<Bench, Map<string, Queue>>();

/** Resolves (with the time) once the role is ready, or throws after timeoutMs. */
export async function waitRoleReady(b: Bench, role: string, timeoutMs = 90_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (!(await roleReady(b, role))) {
    b.signal.throwIfAborted();
    if (Date.now() > deadline) throw new Error(`${role} did not become ready within ${timeoutMs / 1000} s (see roles.log)`);
    await sleep(100);
  }
  return Date.now();
}

export async function waitAllReady(b: Bench, timeoutMs = 120_000): Promise<void> {
  for (const role of b.sup.names) await waitRoleReady(b, role, timeoutMs);
}

// ---------------------------------------------------------------- the row

async function putRecipient(b: Bench, token: string, user: string, body: object) {
  const res = await fetch(`${b.apiUrl}/api/v1/recipients/${encodeURIComponent(user)}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`PUT /recipients/${user} answered ${res.status}: ${await res.text()}`);
}

/**
 * Redis's warnings that it answered writes it had not yet written to its AOF: with appendfsync everysec,
 * while an fsync is slow (a busy disk) it holds writes back for up to 2 s, and a crash then loses them.
 * The bench's Redis runs appendfsync always, where this should stay 0; a Redis run with everysec shows it.
 */
const aofDelays = (b: Bench) => {
  try {
    return readFileSync(b.redisServer.logPath, 'utf8').split('AOF fsync is taking too long').length - 1;
  } catch {
    return 0;
  }
};

export async function runRow(b: Bench, f: Fault): Promise<RowResult> {
  await waitAllReady(b);
  const started = Date.now();
  const delaysBefore = aofDelays(b);
  const row = f.name;
  const users = b.tenants.map((_, t) => Array.from({ length: b.usersPerTenant }, (_, k) => `${row}-t${t}-u${k}`));
  await Promise.all(
    b.tenants.flatMap((t, ti) => users[ti].map((u, k) => putRecipient(b, t.token, u, b.fakes.addresses(ti * b.usersPerTenant + k)))),
  );
  const trackers = new Map<string, FrameTracker>();
  for (const [ti, t] of b.tenants.entries())
    for (const u of users[ti]) {
      const token = await signToken(b.secret, { sub: u, tenant: t.tenant, expiresIn: '2h' });
      trackers.set(u, new FrameTracker(`${b.wsUrl}/api/v1/ws?token=${token}`));
    }
  await Promise.all([...trackers.values()].map((t) => t.start()));

  // a channel row puts a third of each tenant's sends on its channel; the others a quarter, on each channel in turn
  const channelOf = (n: number): ExternalChannel | null => {
    const k = Math.floor(n / b.tenants.length);
    if (f.channel) return k % 3 === 0 ? f.channel : null;
    return k % 4 === 0 ? EXTERNAL_CHANNELS[(k / 4) % EXTERNAL_CHANNELS.length] : null;
  };
  const load = new SendLoad({ apiUrl: b.apiUrl, tenants: b.tenants.map((t, i) => ({ ...t, users: users[i] })), row, rate: b.rate, channelOf });
  const run: Run = { row, users, load, trackers, injected: [], notes: [] };
  try {
    await f.before?.(b, run);
    load.start();
    await sleep(b.leadMs);
    b.log(`${row}: injecting the fault`);
    const times = await f.inject(b, run);
    await sleep(times.over + b.tailMs - Date.now());
    await load.stop();
    b.log(`${row}: fault over after ${((times.over - times.at) / 1000).toFixed(1)} s; draining`);
    const snap = await drain(b, run);
    await f.after?.(b, run);
    const result = measure(b, run, f, times, snap);
    const crashes = b.sup.events.filter((e) => e.kind === 'exit' && !e.planned && e.at >= started);
    const delays = aofDelays(b) - delaysBefore;
    if (delays) run.notes.push(`redis.log: ${delays}× "Asynchronous AOF fsync is taking too long" (writes answered before they reached the AOF file)`);
    if (crashes.length) run.notes.push(`unplanned exits (restarted): ${crashes.map((e) => `${e.role} (${e.signal ?? `code ${e.code}`})`).join(', ')}`);
    return { ...result, notes: run.notes, seconds: (Date.now() - started) / 1000 };
  } finally {
    await load.stop();
    for (const t of trackers.values()) t.stop();
  }
}

// ---------------------------------------------------------------- drain and figures

interface StoredRow {
  id: string;
  user_id: string | null;
  seq: string | null;
  idempotency_key: string | null;
  channels: string[];
  sent_ms: number | null;
  created_ms: number;
}

interface DeliveryRow {
  id: string;
  nid: string;
  channel: ExternalChannel;
  status: string;
  reason: string | null;
  finished_ms: number | null;
}

interface Snapshot {
  rows: StoredRow[];
  deliveries: DeliveryRow[];
  complete: boolean;
  waitedMs: number;
}

async function snapshot(b: Bench, run: Run): Promise<Omit<Snapshot, 'complete' | 'waitedMs'>> {
  const tenants = b.tenants.map((t) => t.tenant);
  const rows = (
    await b.db.query<StoredRow>(
      `select id::text, user_id, metadata->>'seq' as seq, idempotency_key, channels,
              (extract(epoch from sent_at) * 1000)::float8 as sent_ms, (extract(epoch from created_at) * 1000)::float8 as created_ms
         from notifications where tenant = any($1) and metadata->>'row' = $2`,
      [tenants, run.row],
    )
  ).rows;
  const deliveries = (
    await b.db.query<DeliveryRow>(
      `select id::text, notification_id::text as nid, channel, status, reason, (extract(epoch from finished_at) * 1000)::float8 as finished_ms
         from deliveries where tenant = any($1) and notification_id = any($2::uuid[])`,
      [tenants, rows.map((r) => r.id)],
    )
  ).rows;
  return { rows, deliveries };
}

const accepted = (run: Run) => [...run.load.sends.filter((s) => s.id), ...run.injected];
const TERMINAL = new Set(['sent', 'failed', 'skipped']);

/** Polls until every accepted send is stored, every delivery it asked for settled and every frame arrived, or drainMs passed. */
async function drain(b: Bench, run: Run): Promise<Snapshot> {
  const t0 = Date.now();
  for (;;) {
    b.signal.throwIfAborted();
    let snap: Omit<Snapshot, 'complete' | 'waitedMs'> | null = null;
    try {
      snap = await snapshot(b, run);
    } catch (err) {
      b.log(`${run.row}: drain query failed (${(err as Error).message}); retrying`);
    }
    if (snap) {
      const stored = new Map(snap.rows.map((r) => [r.id, r]));
      const byNotification = new Map<string, DeliveryRow[]>();
      for (const d of snap.deliveries) byNotification.set(d.nid, [...(byNotification.get(d.nid) ?? []), d]);
      const allStored = accepted(run).every((s) => stored.has(s.id!));
      const settled = snap.rows.every((r) => {
        const due = r.channels.filter((c) => c !== 'app');
        const ds = byNotification.get(r.id) ?? [];
        return due.every((c) => ds.some((d) => d.channel === c && TERMINAL.has(d.status)));
      });
      const framed = snap.rows.every((r) => !r.user_id || !run.trackers.has(r.user_id) || run.trackers.get(r.user_id)!.frames.has(r.id));
      const waitedMs = Date.now() - t0;
      if ((allStored && settled && framed) || waitedMs > b.drainMs) return { ...snap, complete: allStored && settled && framed, waitedMs };
    } else if (Date.now() - t0 > b.drainMs) return { rows: [], deliveries: [], complete: false, waitedMs: Date.now() - t0 };
    await sleep(1000);
  }
}

function count<K>(map: Map<K, number>, key: K) {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function measure(b: Bench, run: Run, f: Fault, times: FaultTimes, snap: Snapshot): Omit<RowResult, 'notes' | 'seconds'> {
  const acc = accepted(run);
  const refusedWhy = new Map<string, number>();
  for (const s of run.load.sends) if (!s.id) count(refusedWhy, s.why ?? 'unknown');
  const storedById = new Map(snap.rows.map((r) => [r.id, r]));
  const lostSends = acc.filter((s) => !storedById.has(s.id!));

  // the same send (metadata.seq) or the same recurring occurrence (idempotency key) stored twice
  const perKey = new Map<string, number>();
  for (const r of snap.rows) {
    const key = r.seq ? `seq:${r.seq}` : r.idempotency_key ? `idem:${r.idempotency_key}` : null;
    if (key) count(perKey, key);
  }
  const dupInbox = [...perKey.values()].reduce((a, n) => a + n - 1, 0);

  // deliveries: each channel a stored notification asked for, and what its provider did
  const effects = new Map<string, number>();
  for (const e of b.fakes.effects()) count(effects, `${e.channel}|${e.key}`);
  const deliveryOf = new Map(snap.deliveries.map((d) => [`${d.nid}|${d.channel}`, d]));
  let deliveriesDue = 0;
  let deliveriesDone = 0;
  let dupSends = 0;
  const dupByChannel = new Map<string, number>();
  const failedWhy = new Map<string, number>();
  for (const r of snap.rows)
    for (const c of r.channels.filter((x) => x !== 'app') as ExternalChannel[]) {
      deliveriesDue++;
      const d = deliveryOf.get(`${r.id}|${c}`);
      if (!d) continue;
      if (d.status === 'failed' || d.status === 'skipped') count(failedWhy, `${c} ${d.status} (${d.reason ?? 'no reason'})`);
      const key = c === 'wechat' ? `title:${titleOf(run.row, r.seq ?? '')}` : d.id;
      const n = effects.get(`${c}|${key}`) ?? 0;
      if (n > 0) deliveriesDone++;
      if (n > 1) {
        dupSends += n - 1;
        dupByChannel.set(c, (dupByChannel.get(c) ?? 0) + n - 1);
      }
    }

  // frames: stored notifications of a connected user that its client never got
  let framesDue = 0;
  let framesMissed = 0;
  for (const r of snap.rows) {
    const t = r.user_id ? run.trackers.get(r.user_id) : undefined;
    if (!t) continue;
    framesDue++;
    if (!t.frames.has(r.id)) framesMissed++;
  }
  const dupFrames = [...run.trackers.values()].reduce((a, t) => a + t.stats.duplicates, 0);

  // recovery: the first notification sent after the fault that went all the way (stored, framed, and
  // delivered on the row's channel), and when everything sent until then had gone all the way too
  const issued = new Map(acc.map((s) => [s.id!, s.issued]));
  const completion = (r: StoredRow): number | null => {
    if (r.sent_ms === null) return null;
    let t = r.sent_ms;
    const tracker = r.user_id ? run.trackers.get(r.user_id) : undefined;
    if (tracker) {
      const at = tracker.frames.get(r.id);
      if (at === undefined) return null;
      t = Math.max(t, at);
    }
    if (f.channel) {
      const d = deliveryOf.get(`${r.id}|${f.channel}`);
      if (!d || d.status !== 'sent' || d.finished_ms === null) return null;
      t = Math.max(t, d.finished_ms);
    }
    return t;
  };
  const relevant = snap.rows.filter((r) => (f.recurring ? r.idempotency_key !== null && !r.seq : f.channel ? r.channels.includes(f.channel) : !!r.seq));
  const items = relevant.map((r) => ({ issued: f.recurring ? r.created_ms : (issued.get(r.id) ?? r.created_ms), done: completion(r) }));
  // an accepted send that never got stored is an item that never completes
  for (const s of lostSends) if (!f.recurring && (!f.channel || s.channel === f.channel)) items.push({ issued: s.issued, done: null });
  const after = items.filter((i) => i.issued >= times.effective && i.done !== null).map((i) => i.done!);
  const recovered = after.length ? Math.min(...after) : null;
  let recoverMs = recovered === null ? null : recovered - times.at;
  let caughtUpMs: number | null = null;
  if (recovered !== null) {
    const before = items.filter((i) => i.issued <= recovered);
    caughtUpMs = before.every((i) => i.done !== null) ? Math.max(...before.map((i) => i.done!)) - times.at : null;
  }
  if (run.recoverMs !== undefined) {
    // the fault's own recovery (every socket back): nothing is caught up before it
    recoverMs = run.recoverMs;
    if (caughtUpMs !== null) caughtUpMs = recoverMs === null ? null : Math.max(caughtUpMs, recoverMs);
  }

  if (lostSends.length) {
    const rel = lostSends.map((s) => (s.issued - times.at) / 1000).sort((a, b) => a - b);
    run.notes.push(`lost: ${lostSends.length} accepted sends, issued ${rel[0].toFixed(2)} s to ${rel[rel.length - 1].toFixed(2)} s after the fault began (${[...new Set(lostSends.map((s) => s.seq.startsWith('inj') ? 'queued directly' : 'HTTP'))].join(', ')})`);
  }
  if (refusedWhy.size) run.notes.push(`not accepted: ${[...refusedWhy].map(([k, n]) => `${n}× ${k}`).join(', ')}`);
  const storedSeqs = new Set(snap.rows.map((r) => r.seq));
  const unanswered = run.load.sends.filter((s) => !s.id && storedSeqs.has(s.seq));
  if (unanswered.length) run.notes.push(`${unanswered.length} sends without a 202 were stored all the same (the client cannot tell; a retry with an idempotency_key would not duplicate them)`);
  if (failedWhy.size) run.notes.push(`deliveries not sent: ${[...failedWhy].map(([k, n]) => `${n}× ${k}`).join(', ')}`);
  if (dupByChannel.size) run.notes.push(`duplicate provider calls: ${[...dupByChannel].map(([c, n]) => `${c} ${n}`).join(', ')}`);
  if (!snap.complete) run.notes.push(`drain gave up after ${(snap.waitedMs / 1000).toFixed(0)} s with work still missing`);
  const closes = new Map<string, number>();
  for (const t of run.trackers.values()) for (const [k, n] of t.stats.closes) closes.set(k, (closes.get(k) ?? 0) + n);
  if (closes.size) run.notes.push(`client closes: ${[...closes].map(([k, n]) => `${k}×${n}`).join(', ')}`);

  return {
    name: f.name,
    accepted: acc.length,
    refused: run.load.sends.length - run.load.sends.filter((s) => s.id).length,
    stored: acc.filter((s) => storedById.has(s.id!)).length,
    lost: lostSends.length,
    dupInbox,
    deliveriesDue,
    deliveriesDone,
    dupSends,
    framesDue,
    framesMissed,
    dupFrames,
    recoverMs,
    caughtUpMs,
  };
}
