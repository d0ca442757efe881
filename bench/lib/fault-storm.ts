/**
 * A reconnect storm: the realtime node holding `sockets` idle sockets is
 * killed (-9) and started again; every client reconnects on its own with a
 * jittered backoff, as a real one does. The figure is the time from the kill
 * until every socket has its welcome again. The same clients first do the
 * same against bare uWebSockets.js (bench/lib/bare-ws-server.ts, one message
 * at open, same threads, same restart delay): the same run's baseline.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { signToken } from '../../src/auth/jwt.js';
import { sleep, waitRoleReady, type Bench, type Fault, type Run } from './fault-run.js';
import { freePort } from './processes.js';
import { startStormClients, type StormClients } from './ws-storm.js';

/** A closed socket's first retry comes within BACKOFF_BASE_MS, each failure doubles that, up to BACKOFF_CAP_MS. */
const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 4000;

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Resolves with the time once `target` sockets are open (welcomed) again, or null after timeoutMs. */
async function waitOpen(clients: StormClients, target: number, timeoutMs: number): Promise<number | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await clients.open()) >= target) return Date.now();
    await sleep(200);
  }
  return null;
}

function startBare(port: number): Promise<ChildProcess> {
  const compiled = 'dist/bench/lib/bare-ws-server.js';
  const args = existsSync(compiled) ? [compiled] : ['--import', 'tsx', 'bench/lib/bare-ws-server.ts'];
  const child = spawn(process.execPath, args, { env: { ...process.env, BARE_WS_PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`the bare uWS server exited (${code})`)));
  });
}

async function kill9(child: ChildProcess) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/** The baseline: the same storm against bare uWS. */
async function bareStorm(b: Bench, clients: StormClients, sockets: number): Promise<string> {
  const port = await freePort();
  let server = await startBare(port);
  try {
    const urls = Array.from({ length: sockets }, (_, i) => `ws://127.0.0.1:${port}/?u=${i}`);
    const t0 = Date.now();
    await clients.connect(urls);
    const connectMs = Date.now() - t0;
    if ((await waitOpen(clients, sockets, 60_000)) === null) return `bare uWS baseline: only ${await clients.open()} of ${sockets} sockets opened`;
    const at = Date.now();
    await kill9(server);
    await sleep(b.restartDelayMs);
    server = await startBare(port);
    const up = Date.now();
    const back = await waitOpen(clients, sockets, 120_000);
    return (
      `bare uWS baseline (same clients and restart delay): first connect of ${sockets} took ${seconds(connectMs)}; after kill -9 ` +
      (back === null ? `not all back within 120 s (${await clients.open()})` : `all welcomed again ${seconds(back - at)} after the kill (server listening after ${seconds(up - at)})`)
    );
  } finally {
    await clients.close();
    await kill9(server);
  }
}

export function stormFault(sockets: number, processes: number): Fault {
  let clients: StormClients | undefined;
  return {
    name: 'storm',
    what: `kill -9 of the realtime node holding ${sockets} sockets; clients reconnect (full-jitter backoff ${BACKOFF_BASE_MS} ms doubling to ${BACKOFF_CAP_MS} ms); recover = until all have their welcome again`,
    async before(b: Bench, run: Run) {
      clients = await startStormClients(processes, BACKOFF_BASE_MS, BACKOFF_CAP_MS);
      b.log(`storm: bare uWS baseline with ${sockets} sockets`);
      run.notes.push(await bareStorm(b, clients, sockets));
      b.log(`storm: connecting ${sockets} sockets to the realtime node`);
      const urls: string[] = [];
      for (let i = 0; i < sockets; i++) {
        const t = b.tenants[i % b.tenants.length];
        urls.push(`${b.wsUrl}/api/v1/ws?token=${await signToken(b.secret, { sub: `storm-${i}`, tenant: t.tenant, expiresIn: '2h' })}`);
      }
      const t0 = Date.now();
      await clients.connect(urls);
      const all = await waitOpen(clients, sockets, 180_000);
      run.notes.push(
        all === null
          ? `first connect: only ${await clients.open()} of ${sockets} welcomed within 180 s`
          : `first connect of ${sockets} sockets (100 connecting at once per client process, ${processes} processes): ${seconds(all - t0)}`,
      );
    },
    async inject(b: Bench, run: Run) {
      const before = await clients!.retries();
      const at = Date.now();
      await b.sup.kill('realtime', 'SIGKILL');
      const ready = waitRoleReady(b, 'realtime', 180_000);
      const back = await waitOpen(clients!, sockets, 240_000);
      const readyAt = await ready;
      const after = await clients!.retries();
      const attempts = after.attempts - before.attempts;
      run.recoverMs = back === null ? undefined : back - at;
      run.notes.push(
        `storm: node ready ${seconds(readyAt - at)} after the kill; ` +
          (back === null ? `only ${await clients!.open()} of ${sockets} welcomed again within 240 s` : `all ${sockets} welcomed again after ${seconds(back - at)}`) +
          ` (${attempts} connect attempts for ${after.reconnected - before.reconnected} reconnects)`,
      );
      return { at, effective: at, over: back ?? Date.now() };
    },
    async after() {
      await clients?.close();
      clients?.exit();
      clients = undefined;
    },
  };
}
