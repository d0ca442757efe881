import type { Redis } from 'ioredis';
import type { Principal, Verifier } from '../auth/jwt.js';
import type { Orm } from '../db/orm.js';
import { audiencesOf } from '../domain/inbox/audience.js';
import { topicOf } from '../feed/topics.js';
import type { Logger } from '../logger.js';
import { addressKey } from './client-address.js';
import { connectScore, memberOf, parseMember, releaseConnection } from './connection-limit.js';
import type { Conn } from './conn.js';
import { readUpgrade, sendProblem, sendTooManyUpgrades } from './http.js';
import { Interner } from './intern.js';
import { createOpening } from './opening.js';
import type { NodeSettings } from './options.js';
import { CLOSE } from './protocol.js';
import type { Sockets } from './sockets.js';
import { UpgradeLimit, type Attempt, type UsedUp } from './upgrade-limit.js';
import type * as uws from './uws.js';

/**
 * A socket's way in and out of the node: the upgrade (limits per client
 * address and per token subject, the token checked), its open (handed to
 * opening.ts: limits settled, the per-user connection limit, its welcome),
 * its close (its place in its user's Redis set released). The control
 * channel carries this between nodes: sockets another node must close past
 * their user's limit, and limit keys Redis found used up.
 */

export interface AdmissionDeps
  extends Pick<
    NodeSettings,
    'prefix' | 'nodeId' | 'maxConnectionsPerUser' | 'upgradeUserPerMin' | 'upgradeIpPerMin' | 'replayPage' | 'maxBackpressure' | 'seamGraceMs'
  > {
  redis: Redis;
  orm: Orm;
  logger: Logger;
  verifier: Verifier;
  sockets: Sockets;
  /** the control channel */
  control: string;
  /** true once the node is shutting down: no new sockets, and shutdown releases the open ones itself */
  isClosing(): boolean;
}

export interface Admission {
  behavior: Pick<uws.WebSocketBehavior<Conn>, 'upgrade' | 'open' | 'close'>;
  /** a message of the control channel */
  onControl(text: string): void;
  /** releases the socket's place in its user's set across the cluster */
  release(conn: Conn): Promise<void>;
  /** stops the limits' housekeeping */
  stop(): void;
}

export function createAdmission(deps: AdmissionDeps): Admission {
  const { redis, logger, verifier, sockets, prefix, nodeId, control, isClosing } = deps;

  // --- upgrade limits across the cluster (upgrade-limit.ts): per client address, per token subject
  const ipKeyOf = (res: uws.HttpResponse) => `${prefix}:ratelimit:ws:ip:${addressKey(res.getRemoteAddress())}`;
  const userKeyOf = (who: Principal) => `${prefix}:ratelimit:ws:user:${who.tenant}\u001f${who.sub}`;
  let limitWarned = false;
  const limitOptions = {
    onError: (err: Error) => {
      if (!limitWarned) logger.warn({ err: err.message }, 'upgrade limits unavailable: counting only this node\'s upgrades');
      limitWarned = true;
    },
    // a key used up here is refused at once on every node, not let through and closed
    onUsedUp: (usedUp: UsedUp[]) => {
      limitWarned = false;
      redis.publish(control, ['limit', ...usedUp.map((u) => `${u.key}\t${u.resetMs}`)].join('\n')).catch(() => undefined);
    },
  };
  const ipLimit = new UpgradeLimit(redis, { limit: deps.upgradeIpPerMin, ...limitOptions });
  const userLimit = new UpgradeLimit(redis, { limit: deps.upgradeUserPerMin, ...limitOptions });
  const learnLimits = (lines: string[]) => {
    for (const line of lines) {
      const [key, resetMs] = line.split('\t');
      const limit = key.startsWith(`${prefix}:ratelimit:ws:ip:`) ? ipLimit : userLimit;
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

  // --- the per-user connection limit across the cluster (connection-limit.ts)
  const closeHere = (connId: string) => sockets.byId.get(connId)?.ws?.end(CLOSE.tooManyConnections, 'too many connections');
  const kick = (members: string[]) => {
    const remote: string[] = [];
    for (const m of members) {
      const { nodeId: node, connId } = parseMember(m);
      if (node === nodeId) closeHere(connId);
      else remote.push(m);
    }
    if (remote.length) redis.publish(control, ['kick', ...remote].join('\n')).catch((err) => logger.warn({ err: err.message }, 'could not kick'));
  };
  const onControl = (text: string) => {
    const [kind, ...lines] = text.split('\n');
    if (kind === 'limit') return learnLimits(lines);
    if (kind !== 'kick') return;
    for (const m of lines) {
      const { nodeId: node, connId } = parseMember(m);
      if (node === nodeId) closeHere(connId);
    }
  };
  const release = (conn: Conn) => releaseConnection(redis, prefix, conn.who.tenant, conn.who.sub, memberOf(nodeId, conn.id));

  // --- sockets just opened, a batch at a time: limits settled, per-user limit, welcome (opening.ts)
  const opening = createOpening({ ...deps, limits: [ipLimit, userLimit], kick });

  let nextConn = 0;
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
      const lender = sockets.anyOpen();
      if (lender) lender.cork(() => res.cork(answer));
      else answer();
    });

  const behavior: Admission['behavior'] = {
    upgrade(res, req, context) {
      // per address first, before the token is even read
      const byAddress = ipLimit.enabled ? ipLimit.attempt(ipKeyOf(res)) : null;
      if (byAddress && !byAddress.allowed) return sendTooManyUpgrades(res, byAddress.retryAfterMs, 'Too many connection attempts from this address.');
      const parsed = readUpgrade(req);
      if (!parsed.ok) return sendProblem(res, parsed.status, parsed.title, parsed.detail, parsed.errors);
      const { token, since, key, protocol, extensions } = parsed.value;
      const unauthorized = () => sendProblem(res, 401, 'Unauthorized', 'The token is invalid or expired.');
      const accept = (who: Principal) => {
        if (isClosing()) return sendProblem(res, 503, 'Service Unavailable', 'This realtime node is shutting down; connect again.');
        const bySubject = userLimit.enabled ? userLimit.attempt(userKeyOf(who)) : null;
        if (bySubject && !bySubject.allowed) return sendTooManyUpgrades(res, bySubject.retryAfterMs, 'Too many connection attempts for this user.');
        const conn = newConn(who, since);
        attemptsOf.set(conn.id, [byAddress, bySubject].filter((a): a is Attempt => a !== null));
        res.upgrade(conn, key, protocol, extensions, context);
        attemptsOf.delete(conn.id);
      };
      // Upgrade inside this callback whenever the token can be checked at once (HS256, or a token already
      // verified), and the limits judged at once too (upgrade-limit.ts): this uWS build (20.30.0) can close
      // a socket upgraded later from a promise inside res.cork(), right after its open
      // (uNetworking/uWebSockets#1929: cork() misreads the reallocated socket), and the client sees 1006
      // without a welcome. Only JWKS tokens still wait for their keys (upgradeLater).
      let who: Principal | undefined;
      try {
        who = verifier.verifySync?.(token);
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
      verifier.verify(token).then(
        (verified) => upgradeLater(res, () => !aborted, () => accept(verified)),
        () => upgradeLater(res, () => !aborted, unauthorized),
      );
    },

    open(ws) {
      const conn = ws.getUserData();
      sockets.add(conn, ws);
      void opening.add([{ conn, score: connectScore(), attempts: attemptsOf.get(conn.id) ?? [] }]);
    },

    close(ws) {
      const conn = ws.getUserData();
      sockets.remove(conn);
      if (!isClosing()) release(conn).catch(() => undefined);
    },
  };

  return {
    behavior,
    onControl,
    release,
    stop: () => clearInterval(limitSweep),
  };
}
