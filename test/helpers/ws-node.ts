import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { workerConnection } from '../../queues/connection.js';
import { createVerifier } from '../../src/auth/jwt.js';
import { startRealtimeNode, type RealtimeDeps, type RealtimeNode, type RealtimeOptions } from '../../src/realtime/node.js';
import { TEST_JWT_SECRET } from './env.js';
import type { Harness } from './harness.js';

/**
 * Starts a real realtime node in-process on a free port, on the harness's
 * PostgreSQL, Redis and queue prefix; it is closed with the harness.
 * `deps` replaces the command connection (a Redis behind a proxy a test
 * cuts) or the verifier (JWKS tokens).
 */
export async function startNode(
  h: Harness,
  opts: Partial<RealtimeOptions> = {},
  deps: Partial<Pick<RealtimeDeps, 'redis' | 'verifier'>> = {},
): Promise<RealtimeNode & { url: (path?: string) => string; subscriberName: string }> {
  const subscriberName = `herald-test-rt-${randomBytes(4).toString('hex')}`;
  const subscriber = workerConnection(h.config.REDIS_URL, { connectionName: subscriberName });
  subscriber.on('error', () => undefined);
  const node = await startRealtimeNode(
    { logger: h.deps.logger, orm: h.orm, redis: h.redis, subscriber, verifier: createVerifier({ secret: TEST_JWT_SECRET }), ...deps },
    { port: 0, prefix: h.prefix, ...opts },
  );
  h.life.add('realtime node', async () => {
    await node.close();
    await subscriber.quit().catch(() => undefined);
  });
  return { ...node, subscriberName, url: (path = '/api/v1/ws') => `ws://127.0.0.1:${node.port}${path}` };
}

export interface Frame {
  event?: string;
  [key: string]: any;
}

/** A `ws` client that keeps every frame it receives and lets a test wait for frames. */
export class Client {
  readonly frames: Frame[] = [];
  readonly texts: string[] = [];
  closed: { code: number; reason: string } | null = null;
  private waiters: Array<() => void> = [];

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const text = data.toString();
      this.texts.push(text);
      try {
        this.frames.push(JSON.parse(text));
      } catch {
        /* not JSON: a test looks at texts to see it */
      }
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
  }

  private wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Frames of one event ('notification' by default). */
  events(event = 'notification'): Frame[] {
    return this.frames.filter((f) => f.event === event);
  }

  /** Resolves once `pred` holds (checked on every frame and on close), or rejects after timeoutMs. */
  until<T>(pred: () => T | false | null | undefined, timeoutMs = 10_000, label = 'frames'): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const v = pred();
        if (v) {
          clearTimeout(timer);
          resolve(v);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        clearInterval(poll);
        this.waiters = this.waiters.filter((w) => w !== loop);
        reject(new Error(`timed out waiting for ${label}; got ${JSON.stringify(this.frames.map((f) => f.event ?? f))}`));
      }, timeoutMs);
      // frames and close wake the check; a slow poll covers conditions on other events (pings)
      const poll = setInterval(() => check() && clearInterval(poll), 25);
      const loop = () => {
        if (!check()) this.waiters.push(loop);
        else clearInterval(poll);
      };
      loop();
    });
  }

  untilClosed(timeoutMs = 10_000) {
    return this.until(() => this.closed, timeoutMs, 'close');
  }

  send(data: string | object) {
    this.ws.send(typeof data === 'string' ? data : JSON.stringify(data));
  }

  close() {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
  }
}

/** Opens a socket and waits for the welcome frame; a socket closed before its welcome is an error. */
export async function connect(url: string, opts: WebSocket.ClientOptions = {}): Promise<Client> {
  const ws = new WebSocket(url, opts);
  const client = new Client(ws);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
  });
  await client.until(() => client.events('welcome').length > 0 || client.closed, 10_000, 'welcome');
  if (!client.events('welcome').length) throw new Error(`closed before its welcome: ${JSON.stringify(client.closed)}`);
  return client;
}

/** Tries an upgrade that should be refused; resolves with the HTTP status, headers and JSON body. */
export function refusedUpgrade(url: string, opts: WebSocket.ClientOptions = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: any }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts);
    ws.once('open', () => {
      ws.close();
      reject(new Error('the upgrade was accepted'));
    });
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : null }));
    });
    ws.once('error', () => undefined);
  });
}
