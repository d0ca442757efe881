/**
 * The same-run baseline of bench/faults' reconnect storm: bare uWebSockets.js
 * with none of Herald's work (no token check, no query, no limits, no
 * Redis) that sends one small message as a socket opens, standing in for
 * Herald's welcome, so the storm's clients wait for a first message from
 * both. Listens on BARE_WS_PORT with BARE_WS_THREADS threads (default 2, as
 * the node's WS_THREADS on two cores; uSockets sets SO_REUSEPORT and the
 * kernel spreads connections) and prints "listening" once every thread does.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { assertNative, createApp, listen } from '../../src/realtime/uws.js';
import { startWorker } from '../../src/worker-thread.js';

assertNative();

async function serve(port: number): Promise<void> {
  const app = createApp();
  app.ws('/*', {
    idleTimeout: 0,
    open(ws) {
      ws.send(JSON.stringify({ event: 'welcome', server_time: new Date().toISOString() }));
    },
  });
  await listen(app, port);
}

if (!isMainThread) {
  await serve((workerData as { port: number }).port);
  parentPort!.postMessage('listening');
} else {
  const port = Number(process.env.BARE_WS_PORT);
  const threads = Number(process.env.BARE_WS_THREADS ?? 2);
  if (!port) throw new Error('BARE_WS_PORT is required (the port stays the same across restarts)');
  if (threads <= 1) await serve(port);
  else {
    const workers = Array.from({ length: threads }, () => startWorker(new URL(import.meta.url), { port }));
    await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))));
  }
  process.stdout.write('listening\n');
}
