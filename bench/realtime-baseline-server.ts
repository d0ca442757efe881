/**
 * The baseline of bench/realtime: bare Redis pub/sub → bare uWS publish, with
 * none of Herald's work (no JWT, no welcome, no replay, no heartbeat, no
 * limits). Sockets name their topics in the query (?t=a,b); each Redis message
 * on BASELINE_CHANNEL is `<topic>\n<payload>` and is published as is.
 * BASELINE_THREADS (default 1) threads, each its own uWS app and Redis
 * subscriber on one port, as Herald's node runs WS_THREADS.
 * Prints `{"port":N}` on stdout once listening; forked with --expose-gc it
 * answers `{ cmd: 'mem' }` (bench/lib/memory.ts).
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Redis } from 'ioredis';
import { assertNative, createApp, listen } from '../src/realtime/uws.js';
import { answerGcRequests, gcWorkers, startWorker } from '../src/worker-thread.js';
import { onMemoryRequest } from './lib/memory.js';
import { freePort } from './lib/processes.js';

assertNative();
const channel = process.env.BASELINE_CHANNEL ?? 'herald-bench-baseline';
const threads = Number(process.env.BASELINE_THREADS ?? 1);

async function serve(port: number): Promise<number> {
  const app = createApp();
  app.ws<{ topics: string[] }>('/*', {
    idleTimeout: 0,
    maxBackpressure: 16 * 1024 * 1024,
    upgrade(res, req, context) {
      const topics = (req.getQuery('t') ?? '').split(',').filter(Boolean);
      res.upgrade({ topics }, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
    },
    open(ws) {
      for (const t of ws.getUserData().topics) ws.subscribe(t);
    },
  });
  const sub = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  sub.on('messageBuffer', (_channel: Buffer, msg: Buffer) => {
    const i = msg.indexOf(10);
    app.publish(msg.toString('utf8', 0, i), msg.subarray(i + 1));
  });
  await sub.subscribe(channel);
  return (await listen(app, port)).port;
}

if (!isMainThread) {
  await serve((workerData as { port: number }).port);
  answerGcRequests();
  parentPort!.postMessage({ type: 'listening' });
} else {
  let port: number;
  if (threads <= 1) {
    port = await serve(0);
    if (process.send) onMemoryRequest();
  } else {
    // a fixed port for all: uSockets sets SO_REUSEPORT only when the port is not 0
    port = await freePort();
    const workers = Array.from({ length: threads }, () => startWorker(new URL(import.meta.url), { port }));
    await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))));
    if (process.send) onMemoryRequest(() => gcWorkers(workers));
  }
  process.stdout.write(JSON.stringify({ port }) + '\n');
  process.on('SIGTERM', () => process.exit(0));
}
