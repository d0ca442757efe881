/**
 * The baseline of bench/realtime: bare Redis pub/sub → bare uWS publish, with
 * none of Herald's work (no JWT, no welcome, no replay, no heartbeat, no
 * limits). Sockets name their topics in the query (?t=a,b); each Redis message
 * on BASELINE_CHANNEL is `<topic>\n<payload>` and is published as is.
 * Prints `{"port":N}` on stdout once listening; forked with --expose-gc it
 * answers `{ cmd: 'mem' }` (bench/lib/memory.ts).
 */
import { Redis } from 'ioredis';
import { assertNative, createApp, listen } from '../src/realtime/uws.js';
import { onMemoryRequest } from './lib/memory.js';

assertNative();
const channel = process.env.BASELINE_CHANNEL ?? 'herald-bench-baseline';
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
const { port } = await listen(app, 0);
process.stdout.write(JSON.stringify({ port }) + '\n');
if (process.send) onMemoryRequest();
process.on('SIGTERM', () => process.exit(0));
