import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a fake can be told to do with the next requests to its send endpoint. */
export type Outcome = 'ok' | 'timeout' | 'http500' | 'throttle' | 'permanent' | 'hold';

export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface Reply {
  status?: number;
  json?: unknown;
  headers?: Record<string, string>;
  /** never answer (the client's timeout fires) */
  hang?: boolean;
  /** answer only when this promise settles (a test controls the moment) */
  after?: Promise<unknown>;
}

export interface HttpFake {
  url: string;
  requests: FakeRequest[];
  close(): Promise<void>;
}

/**
 * A provider fake on 127.0.0.1, port 0 (a free port: tests run side by
 * side). The handler sees each request with its whole body and answers
 * JSON the way the real provider does.
 */
export async function startHttpFake(handler: (req: FakeRequest) => Reply | Promise<Reply>): Promise<HttpFake> {
  const requests: FakeRequest[] = [];
  const hung = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const fr: FakeRequest = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(fr);
      let reply: Reply;
      try {
        reply = await handler(fr);
      } catch (err) {
        reply = { status: 500, json: { error: String(err) } };
      }
      if (reply.hang) {
        hung.add(res);
        return;
      }
      if (reply.after) await reply.after.catch(() => undefined);
      res.writeHead(reply.status ?? 200, { 'content-type': 'application/json; charset=utf-8', ...reply.headers });
      res.end(reply.json === undefined ? '' : JSON.stringify(reply.json));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    async close() {
      for (const res of hung) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A queue of scripted outcomes: each send takes the next one, 'ok' when none is left. */
export class Script {
  private queue: Outcome[] = [];
  push(...outcomes: Outcome[]): void {
    this.queue.push(...outcomes);
  }
  take(): Outcome {
    return this.queue.shift() ?? 'ok';
  }
  clear(): void {
    this.queue = [];
  }
}

/** A promise a test resolves by hand (to release a held reply). */
export function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}
