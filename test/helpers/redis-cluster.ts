import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { waitFor } from './harness.js';
import { freePort, spawnProcess, type Proc } from './procs.js';

const run = promisify(execFile);

export interface ClusterNode {
  port: number;
  proc: Proc;
}

export interface RedisClusterUnderTest {
  /** REDIS_URL naming every node */
  url: string;
  nodes: ClusterNode[];
  /** the node serving `slot` as primary now */
  primaryOf(slot: number): Promise<number>;
  /** each primary's port and its slot ranges */
  primaries(): Promise<Array<{ port: number; slots: Array<[number, number]> }>>;
}

/**
 * A Redis Cluster of this machine's redis-server on loopback: `primaries`
 * primaries with `replicas` replicas each (at least 3 primaries: Redis refuses fewer), made by `redis-cli --cluster create`
 * (slots split evenly), failing a primary over to its replica one second
 * after it stops answering. No persistence. Everything it starts, and its
 * directory, go into `cleanups`.
 */
export async function startRedisCluster(cleanups: Array<() => unknown>, primaries = 3, replicas = 1): Promise<RedisClusterUnderTest> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-cluster-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const nodes: ClusterNode[] = [];
  for (let i = 0; i < primaries * (1 + replicas); i++) {
    const port = await freePort();
    const proc = spawnProcess(
      'redis-server',
      [
        '--port', String(port),
        '--bind', '127.0.0.1',
        '--cluster-enabled', 'yes',
        '--cluster-config-file', join(dir, `nodes-${port}.conf`),
        '--cluster-node-timeout', '1000',
        '--dir', dir,
        '--save', '',
        '--appendonly', 'no',
      ],
      {},
    );
    cleanups.push(() => proc.stop('SIGKILL'));
    nodes.push({ port, proc });
  }
  await waitFor(() => nodes.every((n) => n.proc.lines.some((l) => l.includes('Ready to accept connections'))), 15_000, 'the cluster nodes to start');
  await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(replicas), '--cluster-yes'], { timeout: 30_000 });
  const clients = nodes.map((n) => new Redis({ port: n.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null }));
  cleanups.push(() => clients.forEach((c) => c.disconnect()));
  // every node agrees the cluster is whole, and every replica has synced
  await waitFor(
    async () => {
      for (const c of clients) if (!(await c.cluster('INFO')).includes('cluster_state:ok')) return false;
      for (const c of clients) {
        const info = await c.info('replication');
        if (info.includes('role:slave') && !info.includes('master_link_status:up')) return false;
      }
      return true;
    },
    30_000,
    'the cluster to be ok with every replica in sync',
  );
  const live = () => clients.find((c, i) => nodes[i].proc.child.exitCode === null && nodes[i].proc.child.signalCode === null)!;
  const shards = async () => (await live().cluster('SHARDS')) as unknown[];
  const primariesNow = async () => {
    const out: Array<{ port: number; slots: Array<[number, number]> }> = [];
    for (const shard of await shards()) {
      const fields = shard as unknown[];
      const slots = fields[fields.indexOf('slots') + 1] as number[];
      const members = fields[fields.indexOf('nodes') + 1] as unknown[][];
      for (const m of members) {
        const get = (k: string) => m[m.indexOf(k) + 1];
        if (get('role') === 'master' && get('health') === 'online') {
          const ranges: Array<[number, number]> = [];
          for (let i = 0; i < slots.length; i += 2) ranges.push([Number(slots[i]), Number(slots[i + 1])]);
          out.push({ port: Number(get('port')), slots: ranges });
        }
      }
    }
    return out;
  };
  return {
    url: `redis+cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    nodes,
    primaries: primariesNow,
    async primaryOf(slot) {
      const p = (await primariesNow()).find((x) => x.slots.some(([a, b]) => slot >= a && slot <= b));
      return p ? p.port : -1;
    },
  };
}
