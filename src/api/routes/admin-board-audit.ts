import type { MiddlewareHandler } from 'hono';
import type { Queue } from 'bullmq';
import type { Producers } from '../../../queues/producers.js';
import type { EntityManager } from '@mikro-orm/postgresql';
import { actorOf, type AuditChange } from '../../domain/audit/event.js';
import { recordAfterChange } from '../../domain/audit/record.js';
import type { ApiEnv } from '../env.js';

type Kind = 'all' | 'queue' | 'scheduler' | 'job';

/**
 * The board's calls that change something (bull-board 9.10's api: every
 * route but GET), in the order bull-board registers them, which decides
 * between patterns that both match (`:queue/retry/:status` before
 * `:queue/:job/retry`). Bulk retry and clean carry the state they act on in
 * their action (`queue.clean.failed`).
 */
const CALLS: ReadonlyArray<{ method: string; pattern: string[]; action: string; kind: Kind }> = [
  ['PUT', 'pause', 'queue.pause_all', 'all'],
  ['PUT', 'resume', 'queue.resume_all', 'all'],
  ['POST', ':queue/add', 'queue.job.add', 'queue'],
  ['PUT', ':queue/retry/:status', 'queue.retry', 'queue'],
  ['PUT', ':queue/promote', 'queue.promote', 'queue'],
  ['PUT', ':queue/clean/:status', 'queue.clean', 'queue'],
  ['PUT', ':queue/pause', 'queue.pause', 'queue'],
  ['PUT', ':queue/resume', 'queue.resume', 'queue'],
  ['PUT', ':queue/concurrency', 'queue.concurrency.set', 'queue'],
  ['PUT', ':queue/rate-limit', 'queue.ratelimit.set', 'queue'],
  ['PUT', ':queue/rate-limit/release', 'queue.ratelimit.release', 'queue'],
  ['PUT', ':queue/empty', 'queue.empty', 'queue'],
  ['PUT', ':queue/obliterate', 'queue.obliterate', 'queue'],
  ['PUT', ':queue/job-schedulers/:scheduler/remove', 'queue.scheduler.remove', 'scheduler'],
  ['PATCH', ':queue/job-schedulers/:scheduler', 'queue.scheduler.update', 'scheduler'],
  ['PUT', ':queue/job-schedulers/:scheduler/run', 'queue.scheduler.run', 'scheduler'],
  ['PUT', ':queue/:job/retry', 'queue.job.retry', 'job'],
  ['PUT', ':queue/:job/clean', 'queue.job.remove', 'job'],
  ['PUT', ':queue/:job/promote', 'queue.job.promote', 'job'],
  ['PATCH', ':queue/:job/update-data', 'queue.job.update_data', 'job'],
  ['PATCH', ':queue/:job/delay', 'queue.job.delay', 'job'],
  ['PATCH', ':queue/:job/priority', 'queue.job.priority', 'job'],
  ['PUT', ':queue/:job/remove-unprocessed-children', 'queue.job.remove_children', 'job'],
].map(([method, pattern, action, kind]) => ({ method, pattern: pattern.split('/'), action, kind: kind as Kind }));

/** What a board call acts on: its action, its target (kind:id) and where to read the target's state. */
export interface BoardCall {
  action: string;
  target: string;
  kind: Kind | 'other';
  queue?: string;
  id?: string;
}

const decode = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

/** The board call at `path` (below the board's `/api/queues`), or a catch-all for one bull-board added later. */
export function boardCall(method: string, path: string): BoardCall {
  const parts = path.split('/').filter(Boolean).map(decode);
  for (const call of CALLS) {
    if (call.method !== method || call.pattern.length !== parts.length) continue;
    const params: Record<string, string> = {};
    if (!call.pattern.every((p, i) => (p.startsWith(':') ? ((params[p.slice(1)] = parts[i]), true) : p === parts[i]))) continue;
    const { queue, status, job, scheduler } = params;
    const action = status ? `${call.action}.${status.toLowerCase().replace(/[^a-z0-9_-]/g, '_')}` : call.action;
    if (call.kind === 'all') return { action, target: 'queue:*', kind: 'all' };
    if (call.kind === 'job') return { action, target: `job:${queue}/${job}`, kind: 'job', queue, id: job };
    if (call.kind === 'scheduler') return { action, target: `scheduler:${queue}/${scheduler}`, kind: 'scheduler', queue, id: scheduler };
    return { action, target: `queue:${queue}`, kind: 'queue', queue };
  }
  return { action: 'queue.board.other', target: `board:${method} ${parts.join('/')}`, kind: 'other' };
}

/**
 * The target's state for the digests: a job (its state and BullMQ's JSON of
 * it), a job scheduler, a queue (paused, counts by state, concurrency, rate
 * limit) or every queue's paused flag. Null when it does not exist.
 */
async function stateOf(queues: Producers, call: BoardCall): Promise<unknown> {
  if (call.kind === 'other') return null;
  if (call.kind === 'all') return { queues: await Promise.all(queues.all().map(async (q) => ({ name: q.name, paused: await q.isPaused() }))) };
  const q: Queue | undefined = queues.byName(call.queue ?? '');
  if (!q) return null;
  if (call.kind === 'job') {
    const job = await q.getJob(call.id!);
    return job ? { state: await job.getState(), ...job.asJSON() } : null;
  }
  if (call.kind === 'scheduler') return (await q.getJobScheduler(call.id!)) ?? null;
  const [paused, counts, concurrency, rateLimitTtl] = await Promise.all([q.isPaused(), q.getJobCounts(), q.getGlobalConcurrency(), q.getRateLimitTtl()]);
  return { name: q.name, paused, counts, concurrency, rate_limit_ttl: rateLimitTtl > 0 };
}

/**
 * Records every board call that changes something (after the admin gate,
 * which put the caller's principal on the request): the target's state is
 * read before and after the call, and the row is written once the call
 * succeeded. Its change is in Redis, where nothing rolls back, so the row
 * comes after it, retried, and the call answers 500 if it still cannot be
 * written (src/domain/audit/record.ts). A call the board refused (4xx, 5xx)
 * changed nothing and is not recorded.
 */
export function auditBoardChanges(deps: { queues: Producers; em: () => EntityManager }, apiBase: string): MiddlewareHandler<ApiEnv> {
  return async function auditBoardChange(c, next) {
    const method = c.req.method.toUpperCase();
    if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return next();
    const call = boardCall(method, c.req.path.startsWith(apiBase) ? c.req.path.slice(apiBase.length) : c.req.path);
    const before = await stateOf(deps.queues, call);
    await next();
    if (c.res.status >= 400) return;
    // the change is made: a state that cannot be read now must not keep it from being recorded
    const after = await stateOf(deps.queues, call).catch(() => ({ unreadable: true }));
    const change: AuditChange = { action: call.action, target: call.target, before, after };
    await recordAfterChange({ em: deps.em, logger: c.get('logger') }, actorOf(c.get('principal'), c.get('requestId')), change);
  };
}
