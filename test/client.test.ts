/**
 * The JavaScript client (src/client) against a real api server, ingest
 * worker and realtime node: live notifications and counts, state events
 * from another device, resume after a node restart, a refused upgrade that
 * asks for a fresh token, HTTP polling where WebSockets are blocked, the
 * 4001 close that is not fought over, and the bundle the api serves.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { signToken } from '../src/auth/jwt.js';
import type { Notification } from '../src/client/api-types.js';
import { HeraldClient, type HeraldClientOptions, type StateEvent } from '../src/client/herald-client.js';
import type { ConnectionEvent, SocketConstructor } from '../src/client/live-feed.js';
import { TEST_JWT_SECRET } from './helpers/env.js';
import { createHarness, listenApi, uniq, waitFor, type Harness } from './helpers/harness.js';
import { startGate } from './helpers/ws-gate.js';
import { connect as rawConnect, startNode } from './helpers/ws-node.js';

let h: Harness;
let svc: string;
let apiUrl: string;
let nodePort: number;
const clients: HeraldClient[] = [];

beforeAll(async () => {
  h = await createHarness({ RATE_LIMIT_USER_PER_MIN: '1000000' });
  await h.startIngest();
  nodePort = (await startNode(h, { upgradeUserPerMin: 1_000_000 })).port;
  apiUrl = await listenApi(h);
  svc = await h.serviceToken();
}, 30_000);
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});
afterAll(() => h?.close());

/** A client with short reconnect delays, and everything it emits. */
function watched(opts: Partial<HeraldClientOptions> & { wsUrl?: string }) {
  const client = new HeraldClient({
    apiUrl,
    wsUrl: `ws://127.0.0.1:${nodePort}/api/v1/ws`,
    WebSocket: WebSocket as unknown as SocketConstructor,
    reconnect: { initialMs: 50, factor: 1.5, maxMs: 300, stableMs: 1000 },
    pollIntervalMs: 100,
    ...opts,
  });
  clients.push(client);
  const seen = { notifications: [] as Notification[], counts: [] as number[], states: [] as StateEvent[], connection: [] as ConnectionEvent[] };
  client.on('notification', (n) => seen.notifications.push(n));
  client.on('unread_count', (n) => seen.counts.push(n));
  client.on('state', (s) => seen.states.push(s));
  client.on('connection', (e) => seen.connection.push(e));
  const ids = () => seen.notifications.map((n) => n.id);
  const state = () => seen.connection.at(-1)?.state;
  return { client, seen, ids, state };
}

async function send(userId: string, title = 'T'): Promise<string> {
  const r = await h.request('POST', '/api/v1/notifications', { token: svc, body: { title, content: 'C', user_id: userId } });
  expect(r.status).toBe(202);
  return r.body.id;
}

const once = (ids: string[]) => new Set(ids).size === ids.length;

describe('HeraldClient', () => {
  test('a send arrives once as a notification, the count follows, and a read reaches the other device as a state event', async () => {
    const user = uniq('u');
    const token = await h.token({ sub: user });
    const a = watched({ token });
    const b = watched({ token });
    await waitFor(() => a.state() === 'open' && b.state() === 'open', 10_000, 'both open');

    const id = await send(user, 'hello');
    await waitFor(() => a.ids().includes(id) && a.seen.counts.at(-1) === 1, 10_000, 'notification and count');
    expect(a.seen.notifications[0]).toMatchObject({ id, title: 'hello', is_read: false });
    expect(a.seen.notifications[0]).not.toHaveProperty('event');

    await a.client.read(id);
    await waitFor(() => b.seen.states.some((s) => s.event === 'read' && s.ids.includes(id)) && b.seen.counts.at(-1) === 0, 10_000, 'read on b');
    await waitFor(() => a.seen.counts.at(-1) === 0, 10_000, 'count on a');
    await new Promise((r) => setTimeout(r, 300));
    expect(a.ids()).toEqual([id]);
    expect(b.ids()).toEqual([id]);
    expect(a.seen.states.filter((s) => s.ids.includes(id))).toHaveLength(1);
    expect(b.seen.states.filter((s) => s.event === 'read')).toHaveLength(1);
    expect(await a.client.count([{ read: false }, { read: true }])).toEqual([0, 1]);
    expect((await a.client.get(id)).is_read).toBe(true);
  });

  test('the realtime node stops while sends go on and comes back: every notification once, in cursor order', async () => {
    const user = uniq('u');
    const first = await startNode(h, { upgradeUserPerMin: 1_000_000 });
    const gate = await startGate(first.port, h.life);
    // no polling here: this proves the socket's own resume with ?since=
    const c = watched({ token: await h.token({ sub: user }), wsUrl: gate.url, blockedAfter: 1000 });
    await waitFor(() => c.state() === 'open', 10_000, 'open');
    const sent: string[] = [];
    for (let i = 0; i < 3; i++) sent.push(await send(user, `before ${i}`));
    await waitFor(() => c.ids().length === 3, 10_000, 'first three');

    // the gate keeps pointing at the stopped node's port: upgrades fail until the next node is up
    await first.close();
    await waitFor(() => c.state() === 'connecting', 10_000, 'connection lost');
    for (let i = 0; i < 4; i++) sent.push(await send(user, `while down ${i}`));
    await new Promise((r) => setTimeout(r, 500));
    expect(c.ids()).toHaveLength(3);

    gate.port = (await startNode(h, { upgradeUserPerMin: 1_000_000 })).port;
    for (let i = 0; i < 3; i++) sent.push(await send(user, `after ${i}`));
    await waitFor(() => c.ids().length >= 10, 15_000, 'all ten');
    await new Promise((r) => setTimeout(r, 300));
    expect(c.ids().sort()).toEqual([...sent].sort());
    expect(once(c.ids())).toBe(true);
    // the welcome's count already held the replayed rows: they were not counted twice
    await waitFor(() => c.seen.counts.at(-1) === 10, 5_000, 'unread count 10');
    const cursors = c.seen.notifications.map((n) => BigInt(n.cursor!));
    expect(cursors).toEqual([...cursors].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)));
  });

  test('an upgrade refused for an expired token asks getToken once and resumes', async () => {
    const user = uniq('u');
    const expired = await signToken(TEST_JWT_SECRET, { sub: user, tenant: h.tenant, expiresIn: Math.floor(Date.now() / 1000) - 60 });
    let asked = 0;
    const c = watched({
      token: expired,
      getToken: async () => {
        asked++;
        return h.token({ sub: user });
      },
    });
    await waitFor(() => c.state() === 'open', 10_000, 'open');
    const id = await send(user);
    await waitFor(() => c.ids().includes(id), 10_000, 'delivered');
    expect(asked).toBe(1);
    expect(c.seen.connection.map((e) => e.state)).toEqual(['connecting', 'open']);
  });

  test('WebSockets blocked: polling delivers, and once the socket is allowed the client is back on it with no duplicate', async () => {
    const user = uniq('u');
    const gate = await startGate(nodePort, h.life);
    gate.mode = 'block';
    const c = watched({ token: await h.token({ sub: user }), wsUrl: gate.url });
    await waitFor(() => c.state() === 'polling', 10_000, 'polling');
    const sent = [await send(user, 'polled 1'), await send(user, 'polled 2')];
    await waitFor(() => c.ids().length === 2, 10_000, 'polled');
    await waitFor(() => c.seen.counts.at(-1) === 2, 10_000, 'count by polling');

    // one more right at the switch: the last poll, the replay of ?since= or the live frame may each bring it
    sent.push(await send(user, 'at the switch'));
    gate.mode = 'pass';
    await waitFor(() => c.state() === 'open', 10_000, 'back on the socket');
    sent.push(await send(user, 'live'));
    await waitFor(() => c.ids().length >= 4, 10_000, 'all four');
    await new Promise((r) => setTimeout(r, 300));
    expect(c.ids().sort()).toEqual([...sent].sort());
    expect(once(c.ids())).toBe(true);
    expect(c.seen.connection.map((e) => e.state)).toEqual(['connecting', 'polling', 'open']);
  });

  test('closed with 4001 (too many sockets): offline with the reason, and no reconnect', async () => {
    const user = uniq('u');
    const token = await h.token({ sub: user });
    const c = watched({ token });
    await waitFor(() => c.state() === 'open', 10_000, 'open');
    const others = [];
    for (let i = 0; i < 3; i++) others.push(await rawConnect(`ws://127.0.0.1:${nodePort}/api/v1/ws?token=${token}`));
    await waitFor(() => c.state() === 'offline', 10_000, 'offline');
    expect(c.seen.connection.at(-1)).toMatchObject({ state: 'offline', reason: 'too many connections' });
    await new Promise((r) => setTimeout(r, 700));
    expect(c.seen.connection.map((e) => e.state)).toEqual(['connecting', 'open', 'offline']);
    expect(others.every((o) => o.closed === null)).toBe(true);

    // the app may ask again (a "reconnect" button): then it takes a slot back
    for (const o of others) o.close();
    c.client.connect();
    await waitFor(() => c.state() === 'open', 10_000, 'open again');
  });

  test('the api serves the bundle: an ES module exporting HeraldClient, small, cached by its hash', async () => {
    const res = await h.app.request('/client/herald-client.js');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const etag = res.headers.get('etag')!;
    expect(etag).toMatch(/^"[0-9a-f]{16}"$/);
    const code = await res.text();

    const gzipped = gzipSync(code).length;
    console.log(`herald-client.js: ${code.length} bytes minified, ${gzipped} bytes gzipped`);
    expect(gzipped).toBeLessThanOrEqual(12 * 1024);

    const dir = await mkdtemp(join(tmpdir(), 'herald-client-'));
    try {
      const file = join(dir, 'herald-client.mjs');
      await writeFile(file, code);
      const mod = await import(pathToFileURL(file).href);
      expect(typeof mod.HeraldClient).toBe('function');
      expect(typeof mod.HeraldError).toBe('function');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }

    const pinned = await h.app.request(`/client/herald-client.js?v=${etag.slice(1, -1)}`);
    expect(pinned.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const stale = await h.app.request('/client/herald-client.js?v=0000000000000000');
    expect(stale.headers.get('cache-control')).toBe('no-cache');
    const revalidated = await h.app.request('/client/herald-client.js', { headers: { 'if-none-match': etag } });
    expect(revalidated.status).toBe(304);
  });
});
