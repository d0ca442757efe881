import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { waitFor } from './harness.js';
import { freePort, spawnProcess, startRedis, type Proc } from './procs.js';

export const SENTINEL_MASTER = 'herald';

export interface SentinelGroup {
  /** REDIS_URL naming the three sentinels and the primary's name */
  url: string;
  primary: Proc;
  primaryPort: number;
  replicaPort: number;
  sentinelPorts: number[];
  /** the port the sentinels name as primary now */
  primaryNow(): Promise<number>;
}

/**
 * A Sentinel setup of this machine's redis-server on loopback: a primary, a
 * replica of it and three sentinels (quorum 2) that fail over one second
 * after the primary stops answering. Everything it starts, and its
 * directory, go into `cleanups`.
 */
export async function startSentinelGroup(cleanups: Array<() => unknown>): Promise<SentinelGroup> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-sentinel-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const [primaryPort, replicaPort] = [await freePort(), await freePort()];
  const primary = await startRedis(primaryPort);
  cleanups.push(() => primary.stop('SIGKILL'));
  const replica = spawnProcess('redis-server', ['--port', String(replicaPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--replicaof', '127.0.0.1', String(primaryPort)], {});
  cleanups.push(() => replica.stop('SIGKILL'));
  const replicaClient = new Redis({ port: replicaPort, host: '127.0.0.1', maxRetriesPerRequest: 1 });
  cleanups.push(() => replicaClient.disconnect());
  // a full sync or a partial one: either way the link is up
  await waitFor(async () => (await replicaClient.info('replication')).includes('master_link_status:up'), 20_000, 'the replica to sync').catch((err) => {
    throw new Error(`${(err as Error).message}; the replica said:\n${replica.lines.slice(-8).join('\n')}`);
  });

  const sentinelPorts: number[] = [];
  const sentinels: Proc[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const conf = join(dir, `sentinel-${port}.conf`); // sentinels rewrite their file: one each, writable
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `sentinel monitor ${SENTINEL_MASTER} 127.0.0.1 ${primaryPort} 2`,
        `sentinel down-after-milliseconds ${SENTINEL_MASTER} 1000`,
        `sentinel failover-timeout ${SENTINEL_MASTER} 5000`,
        `sentinel parallel-syncs ${SENTINEL_MASTER} 1`,
        '',
      ].join('\n'),
    );
    const s = spawnProcess('redis-server', [conf, '--sentinel'], {});
    cleanups.push(() => s.stop('SIGKILL'));
    sentinels.push(s);
    sentinelPorts.push(port);
  }
  // each sentinel has found the replica (it can only promote one it knows) and the other sentinels
  await waitFor(() => sentinels.every((s) => s.lines.some((l) => l.includes('+slave ')) && s.lines.filter((l) => l.includes('+sentinel ')).length >= 2), 20_000, 'the sentinels to know the replica and each other');

  const ask = new Redis({ port: sentinelPorts[0], host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
  cleanups.push(() => ask.disconnect());
  return {
    url: `redis+sentinel://${sentinelPorts.map((p) => `127.0.0.1:${p}`).join(',')}/${SENTINEL_MASTER}`,
    primary,
    primaryPort,
    replicaPort,
    sentinelPorts,
    async primaryNow() {
      const [, port] = (await ask.call('SENTINEL', 'get-master-addr-by-name', SENTINEL_MASTER)) as [string, string];
      return Number(port);
    },
  };
}
