import type { Redis } from 'ioredis';
import { whenReady } from '../../queues/connection.js';
import type { Orm } from '../db/orm.js';
import type { Logger } from '../logger.js';
import { checkReadiness } from '../readiness.js';
import type { AckRecorder } from './acks.js';
import type { Admission } from './admission.js';
import type { Conn } from './conn.js';
import type { Fanout } from './fanout.js';
import { sendJson } from './http.js';
import type { NodeSettings } from './options.js';
import { forgetNode, reportConnections } from './presence.js';
import { CLOSE, WS_PATHS } from './protocol.js';
import type { Sockets } from './sockets.js';
import type { Sweeper } from './sweeper.js';
import * as uws from './uws.js';

/**
 * How a node joins the cluster, answers health checks, and leaves: its
 * presence in Redis (the connection-limit script counts only sockets of
 * nodes present), /health and /ready, and a shutdown that closes every
 * socket with 1001 so clients reconnect elsewhere with ?since= and miss
 * nothing.
 */

export interface HealthDeps {
  orm: Orm;
  redis: Redis;
  subscriber: Redis;
  nodeId: string;
  sockets: Sockets;
  isClosing(): boolean;
}

/** GET /health (alive: always 200) and /ready (PostgreSQL, migrations, Redis and the feed subscription; 503 while shutting down). */
export function addHealthRoutes(app: uws.TemplatedApp, deps: HealthDeps): void {
  const alive = (res: uws.HttpResponse) =>
    sendJson(res, 200, { status: 'ok', service: 'herald-realtime', node: deps.nodeId, connections: deps.sockets.size, time: new Date().toISOString() });
  app.get('/health', alive);
  app.get('/api/v1/health', alive);
  app.get('/ready', (res) => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    void readiness(deps).then(({ ok, checks }) => {
      if (!aborted) sendJson(res, ok ? 200 : 503, { status: ok ? 'ready' : 'unavailable', checks });
    });
  });
}

async function readiness(deps: HealthDeps) {
  // PostgreSQL, migrations current and Redis, each bounded in time (src/readiness.ts, shared with the api)
  const { checks } = await checkReadiness(deps);
  if (checks.redis === 'ok' && deps.subscriber.status !== 'ready') checks.redis = `down: subscriber ${deps.subscriber.status}`;
  if (deps.isClosing()) checks.node = 'down: shutting down';
  return { ok: Object.values(checks).every((v) => v === 'ok'), checks };
}

export interface ServeDeps extends Pick<NodeSettings, 'prefix' | 'nodeId' | 'port' | 'presenceIntervalMs' | 'closeGraceMs'> {
  app: uws.TemplatedApp;
  /** commands: presence */
  redis: Redis;
  logger: Logger;
  sockets: Sockets;
  sweeper: Sweeper<Conn>;
  fanout: Fanout;
  admission: Pick<Admission, 'release' | 'stop'>;
  acks: AckRecorder;
}

export interface Serving {
  /** the port listened on */
  port: number;
  /** stops accepting, closes every socket with 1001, leaves the cluster; call once */
  close(): Promise<void>;
}

/** Joins the cluster, subscribes to the feed, listens. */
export async function serve(deps: ServeDeps): Promise<Serving> {
  const { app, redis, logger, sockets, sweeper, fanout, admission, acks, prefix, nodeId } = deps;
  const presenceTtl = Math.max(15_000, deps.presenceIntervalMs * 3);
  const report = () =>
    reportConnections(redis, prefix, nodeId, sockets.size, presenceTtl).catch((err) => logger.warn({ err: err.message }, 'could not report connections'));

  // Presence first: the connection-limit script counts only sockets of live nodes.
  await whenReady(redis, 10_000);
  await report();
  await fanout.start();
  const { socket: listenSocket, port } = await uws.listen(app, deps.port);
  sweeper.start();
  const presenceTimer = setInterval(report, deps.presenceIntervalMs);
  presenceTimer.unref();
  logger.info({ port, paths: WS_PATHS }, 'realtime node listening');

  return {
    port,
    async close() {
      uws.closeListenSocket(listenSocket);
      sweeper.stop();
      clearInterval(presenceTimer);
      admission.stop();
      const open = sockets.all();
      // going away: clients reconnect (to another node) with ?since= and miss nothing
      for (const conn of open) conn.ws?.end(CLOSE.goingAway, 'server shutting down');
      const unsubscribed = fanout.stop();
      await Promise.allSettled([unsubscribed, acks.flush(), forgetNode(redis, prefix, nodeId), ...open.map((c) => admission.release(c))]);
      // A thread that ends with a socket still open aborts the whole process (uv_loop_close() with open
      // handles): give the clients a moment to answer the close frame, then cut what is left, idle
      // keep-alive HTTP connections (a load balancer's health checks) included.
      const until = Date.now() + deps.closeGraceMs;
      while (sockets.size && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      uws.closeApp(app);
      await new Promise((r) => setImmediate(r));
      logger.info({ closed: open.length }, 'realtime node stopped');
    },
  };
}
