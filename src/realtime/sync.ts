import type { Orm } from '../db/orm.js';
import type { InboxHead } from '../domain/inbox/heads.js';
import { readHorizon } from '../domain/inbox/horizon.js';
import { listInbox } from '../domain/inbox/inbox.js';
import type { Logger } from '../logger.js';
import { compareCursors } from '../domain/inbox/cursors.js';
import type { Conn } from './conn.js';

/**
 * What a socket receives between open and live: the welcome frame, then on
 * `?since=<cursor>` everything stored for it after that cursor, oldest first.
 *
 * No gap and no duplicate at the seam: the node starts buffering the
 * socket's live frames *before* the first query (the caller does that), so a
 * notification committed after a query's snapshot is in the buffer. A
 * replay reads no higher than the tenant's commit horizon
 * (src/domain/inbox/horizon.ts), so every notification at or below the last
 * replayed cursor (the seam) had committed and was sent by it: a live frame
 * at or below the seam is always a duplicate and is dropped. It goes on
 * until it has covered the newest row stored when the buffering began
 * (waiting a moment for a batch of the tenant still committing below it),
 * since that row's frame may have gone out before the buffering did. Frames
 * at or below the seam can arrive after the replay has ended too (the
 * ingest worker publishes just *after* commit), so the caller
 * keeps filtering live frames against the seam for a grace period before it
 * hands the socket to uWS topics.
 *
 * The welcome's unread count and cursor are read for a whole batch of
 * sockets at once (src/realtime/opening.ts), also after the buffering
 * began. When its newest row is not above `since`, nothing was stored for
 * the socket after `since` at the time of that read, and whatever was stored
 * later is in the buffer: the replay is skipped, with `since` as the seam.
 * A reconnect storm's sockets mostly come back with nothing to catch up.
 */
export interface SyncDeps {
  orm: Orm;
  logger: Logger;
  /** notifications per replay page */
  replayPage: number;
  /** a replay pauses between pages while the socket has more than this buffered */
  maxBackpressure: number;
}

/**
 * Longest a replay waits for a batch of the tenant still committing below
 * the newest row, ms; then the socket is closed 1011 and its client retries.
 * A batch commits in milliseconds; its reservation expires after 30 s
 * (src/domain/sending/cursors.ts).
 */
const HORIZON_WAIT_MS = 5000;

export interface SyncHooks {
  /** sends one text frame; false when the socket is gone */
  send(conn: Conn, frame: string | Uint8Array): boolean;
  bufferedAmount(conn: Conn): number;
  /** ends the catch-up: sends the buffered frames (above the seam, when there is one) and lets live frames through */
  goLive(conn: Conn, seam: string | null): void;
  /** closes the socket (replay failed) */
  fail(conn: Conn, code: number, reason: string): void;
}

/** `head`: the socket's inbox head, read after its buffering began; null when PostgreSQL could not be read. */
export async function syncConnection(deps: SyncDeps, hooks: SyncHooks, conn: Conn, head: InboxHead | null): Promise<void> {
  if (conn.state !== 'sync') return;
  if (!head && conn.since) return hooks.fail(conn, 1011, 'inbox unavailable, retry later');
  const welcome = head ? { unread_count: head.unread, cursor: head.cursor } : { unread_count: null, cursor: null };
  hooks.send(
    conn,
    JSON.stringify({ event: 'welcome', server_time: new Date().toISOString(), user_id: conn.who.sub, tenant: conn.who.tenant, since: conn.since, ...welcome }),
  );

  if (!conn.since) return hooks.goLive(conn, null);
  if (head && compareCursors(head.newest, conn.since) <= 0) return hooks.goLive(conn, conn.since);

  const em = deps.orm.em.fork();
  let last = conn.since;
  // The replay must cover every row up to the newest one stored when the buffering began (`newest`):
  // a frame published before then is not in the buffer. Pages stop at the commit horizon (a batch of
  // the tenant still committing below `newest`), so when a page ends short of it the replay waits a
  // moment for that batch and reads on.
  const target = head?.newest ?? '0';
  const deadline = Date.now() + HORIZON_WAIT_MS;
  try {
    for (;;) {
      // read before the page: when it is at or past the target, the page's later snapshot holds every row up to it
      const horizon = await readHorizon(em, conn.who.tenant);
      const page = await listInbox(em, conn.who, { sinceCursor: last }, { limit: deps.replayPage, offset: 0, order: 'asc', withTotal: false });
      if (conn.state !== 'sync') return;
      for (const row of page.rows) hooks.send(conn, JSON.stringify({ event: 'notification', ...row }));
      if (page.rows.length) last = page.rows[page.rows.length - 1].cursor!;
      if (page.rows.length === deps.replayPage) {
        await drained(hooks, conn, deps.maxBackpressure / 2);
        if (conn.state !== 'sync') return;
        continue;
      }
      if (compareCursors(horizon, target) >= 0) break;
      if (Date.now() > deadline) return hooks.fail(conn, 1011, 'inbox still being written, retry');
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (conn.state !== 'sync') return;
    }
  } catch (err) {
    deps.logger.warn({ err, user: conn.who.sub, since: conn.since }, 'replay failed');
    return hooks.fail(conn, 1011, 'replay failed, retry later');
  }
  hooks.goLive(conn, last);
}

/** True when a live frame must still go to a socket whose replay ended at `seam`. */
export const aboveSeam = (cursor: string, seam: string | null): boolean => seam === null || cursor === '' || compareCursors(cursor, seam) > 0;

/** Waits until the socket's send buffer is below `limit` (a long replay must not flood a slow client). */
function drained(hooks: SyncHooks, conn: Conn, limit: number): Promise<void> {
  if (hooks.bufferedAmount(conn) <= limit) return Promise.resolve();
  return new Promise((resolve) => {
    conn.onDrain = () => {
      if (conn.state === 'sync' && hooks.bufferedAmount(conn) > limit) return;
      conn.onDrain = null;
      resolve();
    };
  });
}
