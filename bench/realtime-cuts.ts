/**
 * bench/realtime-cuts: how many fresh sockets a realtime node cuts (1006,
 * no close frame) before their welcome, when many connect at once.
 *
 *   npx tsx bench/realtime-cuts.ts            (ROUNDS=20 SOCKETS=300)
 *
 * Each round is a fresh process: a node (src/realtime/node.ts) on the
 * benchmark database and Redis, SOCKETS clients connecting at once while
 * frames are published to all of them, once with HS256 tokens (upgraded
 * inside uWS's upgrade callback) and once with RS256 tokens from a JWKS
 * (verified by a promise, so upgraded later). The count is per process
 * because the fault it looks for depends on the process's memory: in this
 * uWS build an upgrade made later inside the response's own res.cork() can
 * be closed right after its open when cork() reads the freed end of the
 * reallocated socket as HTTP state (uNetworking/uWebSockets#1929); in a
 * given process it happens for a socket now and then, or not at all.
 * Prints, per kind of token: sockets welcomed, cut (1006) before their
 * welcome, and refused or closed otherwise, over all rounds.
 */
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import WebSocket from 'ws';
import { producerConnection, whenReady, workerConnection } from '../queues/connection.js';
import { createVerifier, signToken } from '../src/auth/jwt.js';
import { migrate, openOrm } from '../src/db/orm.js';
import { createLogger } from '../src/logger.js';
import { loadConfig } from '../src/config.js';
import { publishEvents } from '../src/feed/publish.js';
import { startRealtimeNode } from '../src/realtime/node.js';

const ROUNDS = Number(process.env.ROUNDS ?? 20);
const SOCKETS = Number(process.env.SOCKETS ?? 300);
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/herald_bench';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const SECRET = 'herald-bench-secret-0123456789';

type Kind = 'hs256' | 'jwks';
type Outcome = Record<'welcomed' | 'cut' | 'other', number>;

/** One round in this process: a node, SOCKETS clients at once with `kind` tokens; the outcomes. */
async function round(kind: Kind): Promise<Outcome> {
  const prefix = `herald-bench-cuts-${randomBytes(3).toString('hex')}`;
  const tenant = `bench-cuts-${randomBytes(3).toString('hex')}`;
  const config = loadConfig({ DATABASE_URL, REDIS_URL, JWT_SECRET: SECRET, LOG_LEVEL: 'warn' });
  const logger = createLogger(config, 'bench');
  const orm = await openOrm({ url: DATABASE_URL, poolMax: 10 });
  const redis = producerConnection(REDIS_URL, { enableAutoPipelining: true });
  const subscriber = workerConnection(REDIS_URL);
  await whenReady(redis);
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const jwks = createServer((_req, res) => res.setHeader('content-type', 'application/json').end(JSON.stringify({ keys: [jwk] })));
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  const jwksUrl = `http://127.0.0.1:${(jwks.address() as { port: number }).port}/jwks`;
  const node = await startRealtimeNode(
    // cacheSize 1, as the realtime process runs it: every socket's token is checked
    { logger, orm, redis, subscriber, verifier: createVerifier({ secret: SECRET, jwksUrl, cacheSize: 1 }) },
    { port: 0, prefix, upgradeIpPerMin: 0 },
  );
  const tokens = await Promise.all(
    Array.from({ length: SOCKETS }, (_, i) =>
      kind === 'hs256'
        ? signToken(SECRET, { sub: `u${i}`, tenant, roles: ['staff'], expiresIn: '1h' })
        : new SignJWT({ tenant, roles: ['staff'], stores: [] })
            .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
            .setSubject(`u${i}`)
            .setIssuedAt()
            .setExpirationTime('1h')
            .sign(privateKey),
    ),
  );
  // load: frames to every socket's role while they connect
  let publishing = true;
  const load = (async () => {
    for (let n = 0; publishing; n++) {
      await publishEvents(redis, prefix, [{ tenant, audience: 'r:staff', frame: { event: 'bench', n } }]);
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  const outcome: Outcome = { welcomed: 0, cut: 0, other: 0 };
  const sockets: WebSocket[] = [];
  await Promise.all(
    tokens.map(
      (token) =>
        new Promise<void>((resolve) => {
          const ws = new WebSocket(`ws://127.0.0.1:${node.port}/api/v1/ws?token=${token}`);
          sockets.push(ws);
          let done = false;
          const settle = (what: keyof Outcome) => {
            if (done) return;
            done = true;
            outcome[what]++;
            resolve();
          };
          ws.on('message', (data) => String(data).includes('"event":"welcome"') && settle('welcomed'));
          ws.on('close', (code) => settle(code === 1006 ? 'cut' : 'other'));
          ws.on('error', () => settle('other'));
          setTimeout(() => settle('other'), 30_000).unref();
        }),
    ),
  );
  publishing = false;
  await load;
  for (const ws of sockets) ws.terminate();
  await node.close();
  jwks.close();
  await Promise.allSettled([subscriber.quit(), redis.quit(), orm.close()]);
  return outcome;
}

async function main() {
  await migrate({ url: DATABASE_URL });
  const totals: Record<Kind, Outcome & { rounds: number; roundsWithCuts: number }> = {
    hs256: { welcomed: 0, cut: 0, other: 0, rounds: 0, roundsWithCuts: 0 },
    jwks: { welcomed: 0, cut: 0, other: 0, rounds: 0, roundsWithCuts: 0 },
  };
  for (let i = 0; i < ROUNDS; i++) {
    for (const kind of ['hs256', 'jwks'] as const) {
      const child = fork(fileURLToPath(import.meta.url), ['--round', kind], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
      const got = await new Promise<Outcome>((resolve, reject) => {
        child.once('message', (m) => resolve(m as Outcome));
        child.once('exit', (code) => reject(new Error(`round ${i} (${kind}) exited ${code} without an answer`)));
      });
      await new Promise((r) => child.once('exit', r));
      const t = totals[kind];
      t.welcomed += got.welcomed;
      t.cut += got.cut;
      t.other += got.other;
      t.rounds++;
      if (got.cut) t.roundsWithCuts++;
      console.log(`round ${i} ${kind}: ${got.welcomed} welcomed, ${got.cut} cut (1006) before their welcome, ${got.other} otherwise`);
    }
  }
  console.log(`\n=== bench/realtime-cuts (${ROUNDS} fresh processes per kind, ${SOCKETS} sockets at once each) ===`);
  for (const [kind, t] of Object.entries(totals)) {
    console.log(
      `${kind.padEnd(6)} ${t.welcomed} welcomed, ${t.cut} cut (1006) before their welcome in ${t.roundsWithCuts} of ${t.rounds} processes, ${t.other} refused or closed otherwise`,
    );
  }
}

if (process.argv[2] === '--round') {
  round(process.argv[3] as Kind).then(
    (outcome) => {
      process.send!(outcome);
      process.exit(0);
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
} else {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
