/**
 * One realtime process on several threads (WS_THREADS=2): each thread is a
 * node of its own on the one WS_PORT, the kernel spreads sockets over them,
 * a notification reaches its user whichever thread holds the socket, the
 * cluster count adds both up, and SIGTERM closes every socket with 1001.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { clusterConnections } from '../src/realtime/presence.js';
import { seriesLabels, sumSeries } from './helpers/prom.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';
import { freePort, type Proc } from './helpers/procs.js';
import { spawnRole } from './helpers/roles.js';
import { connect, type Client } from './helpers/ws-node.js';

let h: Harness;
let proc: Proc;
let wsPort: number;

beforeAll(async () => {
  h = await createHarness();
  await h.startIngest();
  wsPort = await freePort();
  proc = spawnRole(
    'src/realtime/server.ts',
    { harness: h, env: { WS_PORT: String(wsPort), WS_THREADS: '2', WS_PRESENCE_INTERVAL_MS: '100', METRICS_PUSH_INTERVAL_MS: '200' } },
    h.life,
  );
  await proc.waitForLog((l) => l.msg === 'realtime threads listening', 60_000, 'both threads');
}, 90_000);
afterAll(() => h?.close());

const url = (token: string) => `ws://127.0.0.1:${wsPort}/api/v1/ws?token=${token}`;

async function send(body: Record<string, unknown>) {
  const res = await h.request('POST', '/api/v1/notifications', { token: await h.serviceToken(), body: { message: 'm', ...body } });
  expect(res.status).toBe(202);
  return res.body.id as string;
}

test('both threads hold sockets, every user gets exactly their own, a broadcast reaches all, the count adds up', async () => {
  const nodes = proc.logs().filter((l) => l.msg === 'realtime node listening');
  expect(nodes.map((l) => l.thread).sort()).toEqual([0, 1]);
  expect(new Set(nodes.map((l) => l.node)).size).toBe(2);
  expect(nodes.every((l) => l.port === wsPort)).toBe(true);

  const users = Array.from({ length: 24 }, () => uniq('u'));
  const clients: Client[] = [];
  for (const u of users) clients.push(await connect(url(await h.token({ sub: u }))));
  await waitFor(async () => (await clusterConnections(h.redis, h.prefix)) === users.length, 10_000, 'cluster count');
  // the kernel spread the sockets: each thread's node reports some of them
  const counts = await h.redis.hgetall(`${h.prefix}:{ws}:counts`);
  const perNode = nodes.map((l) => Number(counts[l.node] ?? 0));
  expect(perNode.reduce((a, b) => a + b, 0)).toBe(users.length);
  expect(perNode.every((n) => n > 0)).toBe(true);

  const ids = await Promise.all(users.map((u) => send({ title: `for ${u}`, user_id: u })));
  const everyone = await send({ title: 'all', broadcast: true });
  for (const [i, c] of clients.entries()) {
    await c.until(() => c.events().some((f) => f.id === everyone) && c.events().some((f) => f.id === ids[i]));
  }
  await new Promise((r) => setTimeout(r, 300)); // room for a stray frame to show up
  for (const [i, c] of clients.entries()) expect(c.events().map((f) => f.title).sort()).toEqual(['all', `for ${users[i]}`]);
  for (const c of clients) c.close();
  await waitFor(async () => (await clusterConnections(h.redis, h.prefix)) === 0, 10_000, 'no sockets');
});

test('each thread reports its metrics under its own process label; the process-wide ones come once', async () => {
  const clients: Client[] = [];
  for (let i = 0; i < 10; i++) clients.push(await connect(url(await h.token({ sub: uniq('u') }))));
  const scrape = async () => (await h.request('GET', '/metrics', {})).body as unknown as string;
  await waitFor(async () => sumSeries(await scrape(), 'websocket_connections_active', { role: 'realtime' }) === 10, 10_000, 'both threads counted');
  const text = await scrape();
  const pid = proc.child.pid;
  const gauges = seriesLabels(text, 'websocket_connections_active').filter((l) => l.role === 'realtime');
  expect(gauges.map((l) => l.process).sort()).toEqual([expect.stringMatching(new RegExp(`:${pid}:t\\d+$`)), expect.stringMatching(new RegExp(`:${pid}:t\\d+$`))]);
  expect(new Set(gauges.map((l) => l.process)).size).toBe(2);
  // the process's RSS and CPU are one process's figures: reported by one thread, not summed twice
  expect(seriesLabels(text, 'process_resident_memory_bytes').filter((l) => l.role === 'realtime')).toHaveLength(1);
  expect(seriesLabels(text, 'nodejs_heap_size_used_bytes').filter((l) => l.role === 'realtime')).toHaveLength(2);
  for (const c of clients) c.close();
  await waitFor(async () => (await clusterConnections(h.redis, h.prefix)) === 0, 10_000, 'no sockets');
});

test('SIGTERM closes every socket on both threads with 1001, then the process exits 0', async () => {
  const clients: Client[] = [];
  for (let i = 0; i < 12; i++) clients.push(await connect(url(await h.token({ sub: uniq('u') }))));
  const code = await proc.stop('SIGTERM');
  for (const c of clients) expect((await c.untilClosed()).code).toBe(1001);
  expect(code).toBe(0);
  expect(proc.logs().filter((l) => l.msg === 'realtime node stopped').map((l) => l.thread).sort()).toEqual([0, 1]);
});

test('a thread that cannot start stops the process with exit 1 and says why', async () => {
  // a plain listener without SO_REUSEPORT holds the port: no thread can share it
  const { createServer } = await import('node:net');
  const port = await freePort();
  const blocker = createServer().listen(port);
  await new Promise((r) => blocker.once('listening', r));
  try {
    const p = spawnRole('src/realtime/server.ts', { harness: h, env: { WS_PORT: String(port), WS_THREADS: '2' } }, h.life);
    expect(await p.exited).toBe(1);
    expect(p.logs().some((l) => l.msg === 'realtime threads did not start')).toBe(true);
    expect(p.logs().some((l) => l.msg === 'realtime threads listening')).toBe(false);
  } finally {
    blocker.close();
  }
}, 60_000);
