import { audiencesOf } from '../domain/inbox/audience.js';
import { isUuid } from '../domain/ids.js';
import { framesSentTally } from '../metrics/metrics.js';
import type { AckRecorder } from './acks.js';
import type { Conn } from './conn.js';
import { Sweeper } from './sweeper.js';
import * as uws from './uws.js';

/**
 * What a socket and its node say to each other besides the frames fanned out
 * to it (fanout.ts) and its welcome and replay (sync.ts): the client's
 * messages (the text `ping`, `{"type":"ping"}`, acks) and the node's
 * answers and error frames, heartbeat pings, idle closes, and the close
 * codes.
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

export interface ProtocolDeps {
  acks: AckRecorder;
  /** bytes a socket may have waiting before it is closed with 1013 */
  maxBackpressure: number;
  /** ping a socket quiet for this long, ms */
  pingIntervalMs: number;
  /** close a socket silent for this long, ms */
  idleTimeoutMs: number;
}

/** The uWS behaviour's part that does not admit or release sockets (admission.ts has upgrade, open and close). */
export type ProtocolBehavior = Omit<uws.WebSocketBehavior<Conn>, 'upgrade' | 'open' | 'close'>;

export interface Protocol {
  behavior: ProtocolBehavior;
  /** visits every open socket a slice at a time: heartbeat pings, idle and slow-consumer closes */
  sweeper: Sweeper<Conn>;
}

const errorFrame = (error: string, detail: string) => JSON.stringify({ event: 'error', error, detail });

/** The answer to a ping, text or JSON. */
const pongFrame = () => JSON.stringify({ event: 'pong', server_time: new Date().toISOString() });

/** Sends an answer to a client's message, counted in realtime_frames_sent_total{kind="reply"}. */
function reply(ws: uws.WebSocket<Conn>, frame: string): void {
  framesSentTally.reply++;
  ws.send(frame, false);
}

export function createProtocol(deps: ProtocolDeps): Protocol {
  const { acks, maxBackpressure, pingIntervalMs, idleTimeoutMs } = deps;

  const sweeper = new Sweeper<Conn>(
    (conn, now) => {
      const ws = conn.ws;
      if (!ws) return;
      if (now - conn.lastSeen >= idleTimeoutMs) return ws.end(CLOSE.idle, 'idle timeout');
      if (ws.getBufferedAmount() > maxBackpressure) return ws.end(CLOSE.slowConsumer, 'slow consumer');
      if (now - conn.lastSeen >= pingIntervalMs && now - conn.lastPing >= pingIntervalMs) {
        conn.lastPing = now;
        ws.ping();
      }
    },
    { periodMs: Math.min(1000, Math.max(50, Math.min(pingIntervalMs, idleTimeoutMs) / 10)) },
  );

  const behavior: ProtocolBehavior = {
    compression: uws.COMPRESSION_DISABLED,
    maxPayloadLength: 16 * 1024,
    // The sweeper does heartbeats and idle closes (sliced, configurable). uWS's own idle timer stays on at
    // its 960 s maximum, far past ours, for one effect: it sizes the grace a socket gets to read its backlog
    // and the close frame after end() (16 s; with the timer off it is 0–4 s, too short for a slow consumer
    // to ever see its 1013). Idle timeouts near that maximum switch uWS's timer off instead.
    idleTimeout: idleTimeoutMs < 900_000 ? 960 : 0,
    sendPingsAutomatically: false,
    // Herald closes a socket past maxBackpressure with 1013 right after the publish that filled it (and in
    // the sweep). uWS's own limit is only a last resort with room for a whole burst of frames published in
    // one loop turn: past it uWS drops frames (its close frame too) and cuts the socket without a code.
    maxBackpressure: Math.max(4 * maxBackpressure, maxBackpressure + 16 * 1024 * 1024),
    closeOnBackpressureLimit: 1,

    message(ws, message) {
      const conn = ws.getUserData();
      conn.lastSeen = Date.now();
      const text = Buffer.from(message).toString('utf8').trim();
      // Every frame the node sends is one JSON object, the text ping's answer too: the 智链OS API's
      // browser snippet sends the text ping and JSON.parses every frame it gets.
      if (text === 'ping') {
        reply(ws, pongFrame());
        return;
      }
      let msg: { type?: unknown; id?: unknown; ids?: unknown };
      try {
        msg = JSON.parse(text);
      } catch {
        reply(ws, errorFrame('bad_message', 'Send the text ping, or JSON like {"type":"ack","id":"<notification id>"}.'));
        return;
      }
      if (msg?.type === 'ping') {
        reply(ws, pongFrame());
        return;
      }
      if (msg?.type === 'ack') {
        const ids = (Array.isArray(msg.ids) ? msg.ids : [msg.id]).filter((id): id is string => typeof id === 'string' && isUuid(id));
        if (!ids.length) {
          reply(ws, errorFrame('bad_ack', 'An ack needs "id" (or "ids") naming notifications.'));
          return;
        }
        const audiences = audiencesOf(conn.who);
        for (const id of ids.slice(0, 500)) acks.add({ tenant: conn.who.tenant, user_id: conn.who.sub, audiences, id });
        return;
      }
      reply(ws, errorFrame('unknown_type', `Unknown message type ${JSON.stringify(msg?.type)}.`));
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
  };

  return { behavior, sweeper };
}
