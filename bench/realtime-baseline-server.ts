/**
 * The baseline of bench/realtime: bare Redis pub/sub → bare uWS publish, with
 * none of Herald's work (no JWT, no welcome, no replay, no heartbeat, no
 * limits). Sockets name their topics in the query (?t=a,b); each Redis message
 * on BASELINE_CHANNEL is `<topic>\n<payload>` and is published as is.
 * BASELINE_THREADS (default 1) threads, each its own uWS app and Redis
 * subscriber on one port, as Herald's node runs WS_THREADS. BASELINE_PORT
 * (default: a free one) lets a restarted server take its predecessor's
 * port; with BASELINE_WELCOME=1 each socket gets one small frame at open, as
 * Herald's welcome (the reconnect storm times sockets to that frame).
 * Prints `{"port":N}` on stdout once listening; forked with --expose-gc it
 * answers `{ cmd: 'mem' }` (bench/lib/memory.ts).
 */
import { isMainThread, parentPort, workerData, type Worker } from 'node:worker_threads';
import { Redis } from 'ioredis';
import { assertNative, closeListenSocket, createApp, listen, type us_listen_socket } from '../src/realtime/uws.js';
import { answerGcRequests, gcWorkers, startWorker } from '../src/worker-thread.js';
import { onMemoryRequest } from './lib/memory.js';
import { freePort } from './lib/processes.js';

assertNative();
const channel = process.env.BASELINE_CHANNEL ?? 'herald-bench-baseline';
const threads = Number(process.env.BASELINE_THREADS ?? 1);
const fixedPort = Number(process.env.BASELINE_PORT ?? 0);
const welcome = process.env.BASELINE_WELCOME === '1';

async function serve(port: number): Promise<{ port: number; socket: us_listen_socket }> {
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
      if (welcome) ws.send('{"event":"welcome"}', false);
    },
  });
  const sub = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  sub.on('messageBuffer', (_channel: Buffer, msg: Buffer) => {
    const i = msg.indexOf(10);
    app.publish(msg.toString('utf8', 0, i), msg.subarray(i + 1));
  });
  await sub.subscribe(channel);
  return listen(app, port);
}

if (!isMainThread) {
  const { socket } = await serve((workerData as { port: number }).port);
  answerGcRequests();
  // a thread ended with its listen socket open aborts the process (uv_loop_close() with open handles)
  parentPort!.on('message', (msg: { type?: string }) => {
    if (msg?.type !== 'stop') return;
    closeListenSocket(socket);
    setTimeout(() => process.exit(0), 20);
  });
  parentPort!.postMessage({ type: 'listening' });
} else {
  let port: number;
  let workers: Worker[] = [];
  if (threads <= 1) {
    port = (await serve(fixedPort)).port;
    if (process.send) onMemoryRequest();
  } else {
    // a fixed port for all: uSockets sets SO_REUSEPORT only when the port is not 0
    port = fixedPort || (await freePort());
    workers = Array.from({ length: threads }, () => startWorker(new URL(import.meta.url), { port }));
    await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))));
    if (process.send) onMemoryRequest(() => gcWorkers(workers));
  }
  process.stdout.write(JSON.stringify({ port }) + '\n');
  process.on('SIGTERM', () => {
    for (const w of workers) w.postMessage({ type: 'stop' });
    void Promise.all(workers.map((w) => new Promise((resolve) => w.once('exit', resolve)))).then(() => process.exit(0));
  });
}
