import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { whenReady } from '../../queues/connection.js';
import type { Principal, Verifier } from '../auth/jwt.js';
import type { Orm } from '../db/orm.js';
import { audiencesOf } from '../domain/inbox/audience.js';
import { controlChannel, realtimeChannel } from '../feed/channels.js';
import { topicOf, TOPIC_SEPARATOR } from '../feed/topics.js';
import { isUuid } from '../domain/ids.js';
import type { Logger } from '../logger.js';
import { websocketConnections } from '../metrics/metrics.js';
import { checkReadiness } from '../readiness.js';
import { Batcher } from '../../queues/batcher.js';
import { AckRecorder } from './acks.js';
import { addressKey } from './client-address.js';
import { connectScore, memberOf, parseMember, releaseConnection } from './connection-limit.js';
import { TopicIndex, type Conn } from './conn.js';
import { forEachRecord, splitTopicLine } from '../feed/wire.js';
import { readUpgrade, sendJson, sendProblem, sendTooManyUpgrades } from './http.js';
import { Interner } from './intern.js';
import { openBatch, type Opening, type OpeningHooks } from './opening.js';
import { CursorOrder } from './order.js';
import { forgetNode, reportConnections } from './presence.js';
import { Sweeper } from './sweeper.js';
import { aboveSeam } from './sync.js';
import { UpgradeLimit, type Attempt, type UsedUp } from './upgrade-limit.js';
import * as uws from './uws.js';

/**
 * A realtime node: holds users' WebSockets (DESIGN §4) and fans out what the
 * ingest worker and the api publish on Redis. Every node subscribes to the
 * same channel and publishes each message to its own sockets, so any number
 * of nodes can run side by side.
 */

export const WS_PATHS = ['/api/v1/ws', '/api/v1/notifications/ws'] as const;

/** Close codes this node uses (1000–1015 are the protocol's, 4000–4999 the application's). */
export const CLOSE = {
  goingAway: 1001,
  internalError: 1011,
  /** the Redis feed was interrupted: reconnect with ?since= to catch up */
  serviceRestart: 1012,
  slowConsumer: 1013,
  tooManyConnections: 4001,
  idle: 4008,
  /** the upgrade was over WS_UPGRADE_USER_PER_MIN or WS_UPGRADE_IP_PER_MIN after all (counted on other nodes): retry later */
  tooManyUpgrades: 4029,
} as const;

export interface RealtimeDeps {
  logger: Logger;
  orm: Orm;
  /** commands: presence, connection limits, readiness */
  redis: Redis;
  /** a dedicated connection in subscriber mode (workerConnection: it waits for Redis forever) */
  subscriber: Redis;
  verifier: Verifier;
}

export interface RealtimeOptions {
  /** port to listen on; 0 picks a free one */
  port: number;
  /** QUEUE_PREFIX: names the Redis channels and keys */
  prefix: string;
  /** sockets per user across the cluster; the oldest is closed with 4001 (default 3) */
  maxConnectionsPerUser?: number;
  /** upgrades per minute per token subject, across the cluster; past it 429 (default 30, 0 = no limit) */
  upgradeUserPerMin?: number;
  /** upgrades per minute per client address (IPv6: per /64), across the cluster; past it 429 (default 3000, 0 = no limit) */
  upgradeIpPerMin?: number;
  /** bytes a socket may have waiting to be sent before it is closed with 1013 (default 1 MiB) */
  maxBackpressure?: number;
  /** ping a socket quiet for this long, ms (default 54000) */
  pingIntervalMs?: number;
  /** close a socket silent for this long, ms (default 60000) */
  idleTimeoutMs?: number;
  /** report the connection count this often, ms (default 5000) */
  presenceIntervalMs?: number;
  /** notifications per replay page (default 500) */
  replayPage?: number;
  /**
   * after a replay, live frames are checked against its last cursor for this
   * long, because a notification's frame is published just after its commit
   * and can arrive after the replay already sent it, ms (default 5000)
   */
  seamGraceMs?: number;
  /**
   * longest a notification frame waits for the tenant's frame before it,
   * published by another ingest process a moment later (src/realtime/order.ts), ms (default 1000)
   */
  reorderWaitMs?: number;
  /** this node's name in Redis (default random) */
  nodeId?: string;
  /** on close, how long sockets get to answer the 1001 close frame before they are cut, ms (default 2000) */
  closeGraceMs?: number;
}

/** A record of the Redis feed: its topic line, its cursor ('' for events without one), the frame's bytes. */
interface FeedRecord {
  line: string;
  cursor: string;
  frame: Buffer;
}

export interface RealtimeNode {
  nodeId: string;
  port: number;
  /** open sockets on this node */
  connections(): number;
  /** stops accepting, closes every socket with 1001, leaves the cluster */
  close(): Promise<void>;
}

export async function startRealtimeNode(deps: RealtimeDeps, options: RealtimeOptions): Promise<RealtimeNode> {
  uws.assertNative();
  const opts = {
    maxConnectionsPerUser: 3,
    upgradeUserPerMin: 30,
    upgradeIpPerMin: 3000,
    maxBackpressure: 1024 * 1024,
    pingIntervalMs: 54_000,
    idleTimeoutMs: 60_000,
    presenceIntervalMs: 5000,
    replayPage: 500,
    seamGraceMs: 5000,
    reorderWaitMs: 1000,
    closeGraceMs: 2000,
    ...options,
  };
  const nodeId = opts.nodeId ?? `rt-${randomBytes(5).toString('hex')}`;
  const logger = deps.logger.child({ node: nodeId });
  const conns = new Map<string, Conn>();
  const index = new TopicIndex();
  /** syncing sockets by topic: their live frames are buffered until the replay ends */
  const syncing = new TopicIndex();
  const acks = new AckRecorder({ orm: deps.orm, logger });
  let nextConn = 0;
  let closing = false;

  const presenceTtl = Math.max(15_000, opts.presenceIntervalMs * 3);
  const report = () =>
    reportConnections(deps.redis, opts.prefix, nodeId, conns.size, presenceTtl).catch((err) =>
      logger.warn({ err: err.message }, 'could not report connections'),
    );

  // --- heartbeat, idle and slow-consumer checks, a slice at a time
  const sweeper = new Sweeper<Conn>(
    (conn, now) => {
      const ws = conn.ws;
      if (!ws) return;
      if (now - conn.lastSeen >= opts.idleTimeoutMs) return ws.end(CLOSE.idle, 'idle timeout');
      if (ws.getBufferedAmount() > opts.maxBackpressure) return ws.end(CLOSE.slowConsumer, 'slow consumer');
      if (now - conn.lastSeen >= opts.pingIntervalMs && now - conn.lastPing >= opts.pingIntervalMs) {
        conn.lastPing = now;
        ws.ping();
      }
    },
    { periodMs: Math.min(1000, Math.max(50, Math.min(opts.pingIntervalMs, opts.idleTimeoutMs) / 10)) },
  );

  // --- slow consumers: after a publish, check the sockets of the topics it touched
  const touched = new Set<string>();
  let checkScheduled = false;
  const checkTouched = () => {
    checkScheduled = false;
    for (const topic of touched) {
      const set = index.get(topic);
      if (!set) continue;
      for (const conn of set) {
        if (conn.ws && conn.ws.getBufferedAmount() > opts.maxBackpressure) conn.ws.end(CLOSE.slowConsumer, 'slow consumer');
      }
    }
    touched.clear();
  };

  const app = uws.createApp();

  // --- fan-out: each record of a Redis message → one uWS publish (and the buffers of syncing sockets)
  const feed = realtimeChannel(opts.prefix);
  const control = controlChannel(opts.prefix);
  let feedInterrupted = false;
  const route = ({ line, cursor, frame }: FeedRecord) => {
    const split = line.indexOf('\t') < 0 ? null : splitTopicLine(line);
    const topic = split ? split.topic : line;
    const except = split ? split.except : null;
    if (!except) app.publish(topic, frame);
    else for (const conn of index.get(topic) ?? []) if (conn.state === 'live' && !except.has(conn.who.sub)) conn.ws?.send(frame, false);
    const waiting = syncing.get(topic);
    if (waiting) {
      for (const conn of waiting) {
        if (except?.has(conn.who.sub)) continue;
        if (conn.state === 'sync') conn.buffered?.push({ cursor, frame });
        else if (conn.state === 'seam' && aboveSeam(cursor, conn.seam)) conn.ws?.send(frame, false);
      }
    }
    touched.add(topic);
    if (!checkScheduled) {
      checkScheduled = true;
      setImmediate(checkTouched);
    }
  };
  const order = new CursorOrder<FeedRecord>(route, {
    waitMs: opts.reorderWaitMs,
    onGiveUp: (frames) => logger.warn({ frames, waitedMs: opts.reorderWaitMs }, 'a notification frame never came: sent the ones after it'),
  });
  const onMessage = (channel: Buffer, msg: Buffer) => {
    const name = channel.toString();
    if (name === control) return onControl(msg.toString());
    if (name !== feed) return;
    forEachRecord(msg, (line, cursorStart, cursorEnd, frame) => {
      if (cursorStart === cursorEnd) return route({ line, cursor: '', frame });
      const cursorLine = msg.toString('latin1', cursorStart, cursorEnd);
      const space = cursorLine.indexOf(' ');
      if (space < 0) return route({ line, cursor: cursorLine, frame });
      const cursor = cursorLine.slice(0, space);
      order.offer(line.slice(0, line.indexOf(TOPIC_SEPARATOR)), cursor, cursorLine.slice(space + 1), { line, cursor, frame });
    });
  };

  const onControl = (text: string) => {
    const [kind, ...lines] = text.split('\n');
    if (kind === 'limit') return learnLimits(lines);
    if (kind !== 'kick') return;
    for (const m of lines) {
      const { nodeId: node, connId } = parseMember(m);
      if (node === nodeId) conns.get(connId)?.ws?.end(CLOSE.tooManyConnections, 'too many connections');
    }
  };

  /** Frames published while the Redis feed was down are lost for live sockets: make them reconnect and catch up. */
  const onFeedReady = () => {
    if (!feedInterrupted || closing) return;
    feedInterrupted = false;
    // once the subscription is back (idempotent), so a client reconnecting now buffers every new frame
    deps.subscriber
      .subscribe(feed, control)
      .catch((err) => logger.warn({ err: err.message }, 'resubscribe failed'))
      .finally(() => {
        logger.warn({ sockets: conns.size }, 'Redis feed resumed: closing sockets so clients catch up with ?since=');
        for (const conn of [...conns.values()]) conn.ws?.end(CLOSE.serviceRestart, 'feed interrupted, reconnect with since');
      });
  };
  const onFeedClose = () => {
    if (!closing) feedInterrupted = true;
  };

  // --- upgrade limits across the cluster (src/realtime/upgrade-limit.ts): per client address, per token subject
  const ipKeyOf = (res: uws.HttpResponse) => `${opts.prefix}:ratelimit:ws:ip:${addressKey(res.getRemoteAddress())}`;
  const userKeyOf = (who: Principal) => `${opts.prefix}:ratelimit:ws:user:${who.tenant}\u001f${who.sub}`;
  let limitWarned = false;
  const limitOptions = {
    onError: (err: Error) => {
      if (!limitWarned) logger.warn({ err: err.message }, 'upgrade limits unavailable: counting only this node\'s upgrades');
      limitWarned = true;
    },
    // a key used up here is refused at once on every node, not let through and closed
    onUsedUp: (usedUp: UsedUp[]) => {
      limitWarned = false;
      deps.redis.publish(control, ['limit', ...usedUp.map((u) => `${u.key}\t${u.resetMs}`)].join('\n')).catch(() => undefined);
    },
  };
  const ipLimit = new UpgradeLimit(deps.redis, { limit: opts.upgradeIpPerMin, ...limitOptions });
  const userLimit = new UpgradeLimit(deps.redis, { limit: opts.upgradeUserPerMin, ...limitOptions });
  const learnLimits = (lines: string[]) => {
    for (const line of lines) {
      const [key, resetMs] = line.split('\t');
      const limit = key.startsWith(`${opts.prefix}:ratelimit:ws:ip:`) ? ipLimit : userLimit;
      if (Number(resetMs) > 0) limit.learn(key, Number(resetMs));
    }
  };
  const limitSweep = setInterval(() => {
    ipLimit.sweep();
    userLimit.sweep();
  }, 10_000);
  limitSweep.unref();
  /**
   * each socket's attempts by its id, from its upgrade to its open (uWS opens it inside res.upgrade; the
   * user data its open sees is not the object given to res.upgrade, so the id is the key)
   */
  const attemptsOf = new Map<string, Attempt[]>();

  // --- sockets just opened, a batch at a time: limits settled, per-user limit, welcome (src/realtime/opening.ts)
  const kick = (members: string[]) => {
    const remote: string[] = [];
    for (const m of members) {
      const { nodeId: node, connId } = parseMember(m);
      if (node === nodeId) conns.get(connId)?.ws?.end(CLOSE.tooManyConnections, 'too many connections');
      else remote.push(m);
    }
    if (remote.length) deps.redis.publish(control, ['kick', ...remote].join('\n')).catch((err) => logger.warn({ err: err.message }, 'could not kick'));
  };

  /** Hands a socket to its uWS topics: from here on frames reach it with no JavaScript per socket. */
  const subscribe = (conn: Conn) => {
    const ws = conn.ws;
    if (!ws || (conn.state !== 'sync' && conn.state !== 'seam')) return;
    for (const t of conn.topics) ws.subscribe(t);
    syncing.remove(conn);
    conn.state = 'live';
    conn.seam = null;
  };

  const shared = new Interner();
  const newConn = (who: Principal, since: string | null): Conn => {
    const tenant = shared.string(who.tenant);
    return {
      id: (nextConn++).toString(36),
      who: { sub: who.sub, tenant, roles: shared.list(who.roles), stores: shared.list(who.stores) },
      // the user's own topic is this socket's alone; the role, store and tenant topics are shared
      topics: audiencesOf(who).map((a) => (a.startsWith('u:') ? topicOf(tenant, a) : shared.string(topicOf(tenant, a)))),
      since,
      state: 'sync',
      buffered: [],
      seam: null,
      lastSeen: 0,
      lastPing: 0,
      ws: null,
      onDrain: null,
      sweepIndex: -1,
    };
  };

  const hooks: OpeningHooks = {
    refuse: (conn, retryAfterMs) =>
      conn.ws?.end(CLOSE.tooManyUpgrades, `too many connection attempts, retry in ${Math.max(1, Math.ceil(retryAfterMs / 1000))} s`),
    kick,
    send: (conn, frame) => (conn.ws ? conn.ws.send(frame, false) !== 2 : false),
    bufferedAmount: (conn) => conn.ws?.getBufferedAmount() ?? 0,
    goLive(conn, seam) {
      const ws = conn.ws;
      if (!ws || conn.state !== 'sync') return;
      ws.cork(() => {
        for (const item of conn.buffered ?? []) if (aboveSeam(item.cursor, seam)) ws.send(item.frame, false);
      });
      conn.buffered = null;
      if (seam === null) return subscribe(conn);
      conn.state = 'seam';
      conn.seam = seam;
      setTimeout(() => subscribe(conn), opts.seamGraceMs).unref();
    },
    fail: (conn, code, reason) => conn.ws?.end(code, reason),
  };
  const openingDeps = {
    redis: deps.redis,
    orm: deps.orm,
    logger,
    prefix: opts.prefix,
    nodeId,
    maxConnectionsPerUser: opts.maxConnectionsPerUser,
    limits: [ipLimit, userLimit],
    replayPage: opts.replayPage,
    maxBackpressure: opts.maxBackpressure,
  };
  // a few batches at once; sockets that open meanwhile wait and go together (group commit)
  const opening = new Batcher<Opening>(
    (batch) => openBatch(openingDeps, hooks, batch).catch((err) => logger.error({ err, sockets: batch.length }, 'opening sockets failed')),
    { max: 2000, inFlight: 4 },
  );

  /**
   * Answers an upgrade request after a promise (a JWKS token). From a macrotask of its own: promise
   * callbacks also run inside uWS's callbacks (Node drains them after each call into JavaScript), where an
   * upgrade would land in the middle of another request's parsing. And never inside the response's own
   * cork: there this uWS build's cork() reads the freshly upgraded socket's memory as HTTP state after the
   * upgrade and can close it (uNetworking/uWebSockets#1929). While another socket is corked, res.cork()
   * runs its callback as is: any open socket of this node lends its cork, and the 101 goes out uncorked
   * (a few more writes, no misread). With no socket open, the upgrade is made uncorked (uWS prints a
   * warning for it).
   */
  const upgradeLater = (res: uws.HttpResponse, live: () => boolean, answer: () => void) =>
    setImmediate(() => {
      if (!live()) return;
      const lender = anyOpenSocket();
      if (lender) lender.cork(() => res.cork(answer));
      else answer();
    });
  const anyOpenSocket = () => {
    for (const conn of conns.values()) if (conn.ws && conn.state !== 'closed') return conn.ws;
    return null;
  };

  const behavior: uws.WebSocketBehavior<Conn> = {
    compression: uws.COMPRESSION_DISABLED,
    maxPayloadLength: 16 * 1024,
    // The sweeper does heartbeats and idle closes (sliced, configurable). uWS's own idle timer stays on at
    // its 960 s maximum, far past ours, for one effect: it sizes the grace a socket gets to read its backlog
    // and the close frame after end() (16 s; with the timer off it is 0–4 s, too short for a slow consumer
    // to ever see its 1013). Idle timeouts near that maximum switch uWS's timer off instead.
    idleTimeout: opts.idleTimeoutMs < 900_000 ? 960 : 0,
    sendPingsAutomatically: false,
    // Herald closes a socket past maxBackpressure with 1013 right after the publish that filled it (and in
    // the sweep). uWS's own limit is only a last resort with room for a whole burst of frames published in
    // one loop turn: past it uWS drops frames (its close frame too) and cuts the socket without a code.
    maxBackpressure: Math.max(4 * opts.maxBackpressure, opts.maxBackpressure + 16 * 1024 * 1024),
    closeOnBackpressureLimit: 1,

    upgrade(res, req, context) {
      // per address first, before the token is even read
      const byAddress = ipLimit.enabled ? ipLimit.attempt(ipKeyOf(res)) : null;
      if (byAddress && !byAddress.allowed) return sendTooManyUpgrades(res, byAddress.retryAfterMs, 'Too many connection attempts from this address.');
      const parsed = readUpgrade(req);
      if (!parsed.ok) return sendProblem(res, parsed.status, parsed.title, parsed.detail, parsed.errors);
      const { token, since, key, protocol, extensions } = parsed.value;
      const unauthorized = () => sendProblem(res, 401, 'Unauthorized', 'The token is invalid or expired.');
      const accept = (who: Principal) => {
        if (closing) return sendProblem(res, 503, 'Service Unavailable', 'This realtime node is shutting down; connect again.');
        const bySubject = userLimit.enabled ? userLimit.attempt(userKeyOf(who)) : null;
        if (bySubject && !bySubject.allowed) return sendTooManyUpgrades(res, bySubject.retryAfterMs, 'Too many connection attempts for this user.');
        const conn = newConn(who, since);
        attemptsOf.set(conn.id, [byAddress, bySubject].filter((a): a is Attempt => a !== null));
        res.upgrade(conn, key, protocol, extensions, context);
        attemptsOf.delete(conn.id);
      };
      // Upgrade inside this callback whenever the token can be checked at once (HS256, or a token already
      // verified), and the limits judged at once too (src/realtime/upgrade-limit.ts): this uWS build
      // (20.30.0) can close a socket upgraded later from a promise inside res.cork(), right after its open
      // (uNetworking/uWebSockets#1929: cork() misreads the reallocated socket), and the client sees 1006
      // without a welcome. Only JWKS tokens still wait for their keys (upgradeLater).
      let who: Principal | undefined;
      try {
        who = deps.verifier.verifySync?.(token);
      } catch {
        return unauthorized();
      }
      if (who) return accept(who);
      // uWS marks a request whose Connection header is 5 characters long ("close") to be closed once
      // answered, and an upgrade made outside uWS's callbacks would then go on over a closed socket
      if (!/upgrade/i.test(req.getHeader('connection'))) {
        return sendProblem(res, 400, 'Bad Request', 'A WebSocket upgrade needs Connection: Upgrade.', [{ path: 'connection', message: 'must include Upgrade' }]);
      }
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      deps.verifier.verify(token).then(
        (verified) => upgradeLater(res, () => !aborted, () => accept(verified)),
        () => upgradeLater(res, () => !aborted, unauthorized),
      );
    },

    open(ws) {
      const conn = ws.getUserData();
      conn.ws = ws;
      conn.lastSeen = conn.lastPing = Date.now();
      conns.set(conn.id, conn);
      index.add(conn);
      syncing.add(conn);
      sweeper.add(conn);
      // inc/dec rather than set: several nodes in one process (tests) add up
      websocketConnections.inc();
      void opening.add([{ conn, score: connectScore(), attempts: attemptsOf.get(conn.id) ?? [] }]);
    },

    message(ws, message) {
      const conn = ws.getUserData();
      conn.lastSeen = Date.now();
      const text = Buffer.from(message).toString('utf8').trim();
      if (text === 'ping') {
        ws.send('pong', false);
        return;
      }
      let msg: { type?: unknown; id?: unknown; ids?: unknown };
      try {
        msg = JSON.parse(text);
      } catch {
        ws.send(JSON.stringify({ event: 'error', error: 'bad_message', detail: 'Send the text ping, or JSON like {"type":"ack","id":"<notification id>"}.' }), false);
        return;
      }
      if (msg?.type === 'ping') {
        ws.send(JSON.stringify({ event: 'pong', server_time: new Date().toISOString() }), false);
        return;
      }
      if (msg?.type === 'ack') {
        const ids = (Array.isArray(msg.ids) ? msg.ids : [msg.id]).filter((id): id is string => typeof id === 'string' && isUuid(id));
        if (!ids.length) {
          ws.send(JSON.stringify({ event: 'error', error: 'bad_ack', detail: 'An ack needs "id" (or "ids") naming notifications.' }), false);
          return;
        }
        const audiences = audiencesOf(conn.who);
        for (const id of ids.slice(0, 500)) acks.add({ tenant: conn.who.tenant, user_id: conn.who.sub, audiences, id });
        return;
      }
      ws.send(JSON.stringify({ event: 'error', error: 'unknown_type', detail: `Unknown message type ${JSON.stringify(msg?.type)}.` }), false);
    },

    ping(ws) {
      ws.getUserData().lastSeen = Date.now();
    },
    pong(ws) {
      ws.getUserData().lastSeen = Date.now();
    },
    drain(ws) {
      ws.getUserData().onDrain?.();
    },

    close(ws) {
      const conn = ws.getUserData();
      const wasSyncing = conn.state === 'sync' || conn.state === 'seam';
      conn.state = 'closed';
      conn.ws = null;
      conn.buffered = null;
      conns.delete(conn.id);
      index.remove(conn);
      if (wasSyncing) syncing.remove(conn);
      sweeper.remove(conn);
      conn.onDrain?.();
      websocketConnections.dec();
      if (!closing) {
        releaseConnection(deps.redis, opts.prefix, conn.who.tenant, conn.who.sub, memberOf(nodeId, conn.id)).catch(() => undefined);
      }
    },
  };

  for (const path of WS_PATHS) {
    app.ws(path, behavior);
    app.get(path, (res) => sendProblem(res, 426, 'Upgrade Required', 'This path speaks WebSocket: connect with ws:// and ?token=<JWT>.'));
  }
  const alive = (res: uws.HttpResponse) =>
    sendJson(res, 200, { status: 'ok', service: 'herald-realtime', node: nodeId, connections: conns.size, time: new Date().toISOString() });
  app.get('/health', alive);
  app.get('/api/v1/health', alive);
  app.get('/ready', (res) => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    void readiness(deps, closing).then(({ ok, checks }) => {
      if (!aborted) sendJson(res, ok ? 200 : 503, { status: ok ? 'ready' : 'unavailable', checks });
    });
  });
  app.any('/*', (res) => sendProblem(res, 404, 'Not Found', 'Not found.'));

  // Presence first: the connection-limit script counts only sockets of live nodes.
  await whenReady(deps.redis, 10_000);
  await report();
  deps.subscriber.on('messageBuffer', onMessage);
  deps.subscriber.on('ready', onFeedReady);
  deps.subscriber.on('close', onFeedClose);
  await deps.subscriber.subscribe(feed, control);
  const { socket: listenSocket, port } = await uws.listen(app, opts.port);
  sweeper.start();
  const presenceTimer = setInterval(report, opts.presenceIntervalMs);
  presenceTimer.unref();
  logger.info({ port, paths: WS_PATHS }, 'realtime node listening');

  return {
    nodeId,
    port,
    connections: () => conns.size,
    async close() {
      if (closing) return;
      closing = true;
      uws.closeListenSocket(listenSocket);
      sweeper.stop();
      clearInterval(presenceTimer);
      clearInterval(limitSweep);
      const open = [...conns.values()];
      // going away: clients reconnect (to another node) with ?since= and miss nothing
      for (const conn of open) conn.ws?.end(CLOSE.goingAway, 'server shutting down');
      deps.subscriber.off('messageBuffer', onMessage);
      order.close();
      deps.subscriber.off('ready', onFeedReady);
      deps.subscriber.off('close', onFeedClose);
      await Promise.allSettled([
        deps.subscriber.unsubscribe(feed, control),
        acks.flush(),
        forgetNode(deps.redis, opts.prefix, nodeId),
        ...open.map((c) => releaseConnection(deps.redis, opts.prefix, c.who.tenant, c.who.sub, memberOf(nodeId, c.id))),
      ]);
      // A thread that ends with a socket still open aborts the whole process (uv_loop_close() with open
      // handles): give the clients a moment to answer the close frame, then cut what is left, idle
      // keep-alive HTTP connections (a load balancer's health checks) included.
      const until = Date.now() + opts.closeGraceMs;
      while (conns.size && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      uws.closeApp(app);
      await new Promise((r) => setImmediate(r));
      logger.info({ closed: open.length }, 'realtime node stopped');
    },
  };
}

async function readiness(deps: RealtimeDeps, closing: boolean) {
  // PostgreSQL, migrations current and Redis, each bounded in time (src/readiness.ts, shared with the api)
  const { checks } = await checkReadiness(deps);
  if (checks.redis === 'ok' && deps.subscriber.status !== 'ready') checks.redis = `down: subscriber ${deps.subscriber.status}`;
  if (closing) checks.node = 'down: shutting down';
  return { ok: Object.values(checks).every((v) => v === 'ok'), checks };
}
