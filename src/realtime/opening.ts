import type { Redis } from 'ioredis';
import { Batcher } from '../../queues/batcher.js';
import type { Orm } from '../db/orm.js';
import { inboxHeads, type InboxHead } from '../domain/inbox/heads.js';
import type { Logger } from '../logger.js';
import { framesSentTally } from '../metrics/metrics.js';
import { admitConnections } from './connection-limit.js';
import type { Conn } from './conn.js';
import { CLOSE } from './protocol.js';
import type { Sockets } from './sockets.js';
import { aboveSeam, syncConnection, type SyncDeps, type SyncHooks } from './sync.js';
import type { Attempt, UpgradeLimit } from './upgrade-limit.js';

/**
 * What a socket goes through between its upgrade and its welcome, a batch of
 * sockets at a time: after a node restart every client reconnects within a
 * second or two, and one Redis script, one PostgreSQL statement and their
 * round trips per socket made a reconnect cost several times a bare
 * socket's. A batch holds the sockets opened in one turn of the event loop
 * (more when earlier batches are still running: createOpening feeds
 * them through queues/batcher.ts):
 *   1. their upgrade limits are counted in Redis (src/realtime/upgrade-limit.ts,
 *      one round trip): a socket over its limit is closed now, before it
 *      costs a query or a place in its user's set;
 *   2. then, side by side: the per-user connection limit (one pipeline,
 *      src/realtime/connection-limit.ts) and the welcome's unread count and
 *      cursor (a statement per 250 sockets, src/domain/inbox/heads.ts);
 *   3. each socket gets its welcome and catches up (src/realtime/sync.ts).
 * Every socket buffers its live frames from its open on (sockets.ts), so a
 * frame published while its batch waits is neither lost nor out of order.
 * Its feed channels are taken at its open too, and step 2's inbox read waits
 * until Redis has confirmed them: a frame published before that would reach
 * neither the read nor the buffer.
 */

/** A socket just opened, waiting for its batch. */
export interface Opening {
  conn: Conn;
  /** connect order (connectScore() at open): the oldest of a user's sockets is the one closed past the limit */
  score: number;
  /** its upgrade's attempts against the per-IP and per-subject limits, allowed until settled */
  attempts: Attempt[];
}

export interface OpeningDeps extends SyncDeps {
  redis: Redis;
  orm: Orm;
  logger: Logger;
  prefix: string;
  nodeId: string;
  maxConnectionsPerUser: number;
  /** the limits whose attempts a batch waits for */
  limits: UpgradeLimit[];
  /** resolves once Redis has confirmed the feed channels of these sockets (sockets.ts whenSubscribed) */
  subscribed(conns: readonly Conn[]): Promise<void>;
}

export interface OpeningHooks extends SyncHooks {
  /** the socket's upgrade was over a limit after all (other nodes used the key's tokens): close it */
  refuse(conn: Conn, retryAfterMs: number): void;
  /** members (`<node>|<conn>`) past their user's limit: close them, here or on their node */
  kick(members: string[]): void;
}

export interface OpeningQueueDeps extends Omit<OpeningDeps, 'subscribed'> {
  sockets: Sockets;
  /** members past their user's limit: close them, here or on their node (admission.ts) */
  kick(members: string[]): void;
  /** after a replay, how long live frames are still checked against its last cursor before the socket goes live, ms */
  seamGraceMs: number;
}

/**
 * The node's sockets on their way to their welcome: a few batches at once,
 * and sockets that open meanwhile wait and go together (group commit).
 */
export function createOpening(deps: OpeningQueueDeps): Batcher<Opening> {
  const { sockets, logger, seamGraceMs } = deps;
  const hooks: OpeningHooks = {
    refuse: (conn, retryAfterMs) =>
      conn.ws?.end(CLOSE.tooManyUpgrades, `too many connection attempts, retry in ${Math.max(1, Math.ceil(retryAfterMs / 1000))} s`),
    kick: deps.kick,
    send(conn, frame) {
      if (!conn.ws) return false;
      framesSentTally.sync++;
      return conn.ws.send(frame, false) !== 2;
    },
    bufferedAmount: (conn) => conn.ws?.getBufferedAmount() ?? 0,
    goLive(conn, seam) {
      const ws = conn.ws;
      if (!ws || conn.state !== 'sync') return;
      ws.cork(() => {
        for (const item of conn.buffered ?? [])
          if (aboveSeam(item.cursor, seam)) {
            ws.send(item.frame, false);
            framesSentTally.feed++;
          }
      });
      conn.buffered = null;
      if (seam === null) return sockets.goLive(conn);
      conn.state = 'seam';
      conn.seam = seam;
      setTimeout(() => sockets.goLive(conn), seamGraceMs).unref();
    },
    fail: (conn, code, reason) => conn.ws?.end(code, reason),
  };
  const batchDeps: OpeningDeps = { ...deps, subscribed: (conns) => sockets.whenSubscribed(conns) };
  return new Batcher<Opening>(
    (batch) => openBatch(batchDeps, hooks, batch).catch((err) => logger.error({ err, sockets: batch.length }, 'opening sockets failed')),
    { max: 2000, inFlight: 4 },
  );
}

/**
 * Statements of the welcome query hold at most this many sockets, and run
 * side by side. Their answers are also when the welcomes go out, all in one
 * go: a few milliseconds per 250, short enough for the node to keep taking
 * the storm's next connections in between.
 */
const HEADS_PER_STATEMENT = 250;

export async function openBatch(deps: OpeningDeps, hooks: OpeningHooks, batch: Opening[]): Promise<void> {
  await Promise.all(deps.limits.map((limit) => limit.flush()));
  const admitted: Opening[] = [];
  for (const o of batch) {
    if (o.conn.state === 'closed') continue;
    const refused = o.attempts.find((a) => !a.allowed);
    if (refused) hooks.refuse(o.conn, refused.retryAfterMs);
    else admitted.push(o);
  }
  if (!admitted.length) return;
  await Promise.all([countPerUser(deps, hooks, admitted), welcome(deps, hooks, admitted)]);
}

/** Each socket into its user's set across the cluster; the oldest past the limit are closed (4001). */
async function countPerUser(deps: OpeningDeps, hooks: OpeningHooks, batch: Opening[]): Promise<void> {
  try {
    const victims = await admitConnections(
      deps.redis,
      deps.prefix,
      deps.maxConnectionsPerUser,
      batch.map((o) => ({ tenant: o.conn.who.tenant, user: o.conn.who.sub, member: `${deps.nodeId}|${o.conn.id}`, score: o.score })),
    );
    const members = victims.flat();
    if (members.length) hooks.kick(members);
  } catch (err) {
    deps.logger.warn({ err: (err as Error).message, sockets: batch.length }, 'connection limit unavailable');
  }
}

/** The unread counts and cursors of the batch's inboxes, then each socket's welcome and catch-up. */
async function welcome(deps: OpeningDeps, hooks: OpeningHooks, batch: Opening[]): Promise<void> {
  try {
    await deps.subscribed(batch.map((o) => o.conn));
  } catch (err) {
    deps.logger.warn({ err: (err as Error).message, sockets: batch.length }, 'welcome: the feed could not be subscribed');
    for (const o of batch) hooks.fail(o.conn, 1011, 'feed unavailable, retry later');
    return;
  }
  const parts: Conn[][] = [];
  for (let i = 0; i < batch.length; i += HEADS_PER_STATEMENT) parts.push(batch.slice(i, i + HEADS_PER_STATEMENT).map((o) => o.conn));
  await Promise.all(
    parts.map(async (part) => {
      let heads: Array<InboxHead | null>;
      try {
        heads = await inboxHeads(deps.orm.em.fork(), part.map((c) => c.who));
      } catch (err) {
        deps.logger.warn({ err, sockets: part.length }, 'welcome: could not read the inboxes');
        heads = part.map(() => null);
      }
      part.forEach((conn, i) => {
        void syncConnection(deps, hooks, conn, heads[i]).catch((err) => {
          deps.logger.error({ err, user: conn.who.sub }, 'sync failed');
          hooks.fail(conn, 1011, 'sync failed');
        });
      });
    }),
  );
}
