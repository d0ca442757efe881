/**
 * The Redis `npm start` runs itself when none answers: the same function, on a
 * free port and a temporary directory (this machine's own Redis is on 6379).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, expect, test } from 'vitest';
import { findOnPath, startEmbeddedRedis, type EmbeddedRedis } from '../scripts/embedded-redis.js';
import { checkRedis, tcpAnswers } from '../scripts/local-services.js';
import { waitFor } from './helpers/harness.js';
import { freePort, isAlive, spawnProcess } from './helpers/procs.js';

const dirs: string[] = [];
const servers: EmbeddedRedis[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});


test('finds an executable on PATH, and nothing where there is none', () => {
  expect(findOnPath('redis-server')).toMatch(/\/redis-server$/);
  expect(findOnPath('redis-server', '/nonexistent:/also-not')).toBeUndefined();
});

test('starts a redis-server with AOF and noeviction on 127.0.0.1, keeps its data across a stop, and stops for good', { timeout: 60_000 }, async () => {
  const dataDir = join(mkdtempSync(join(tmpdir(), 'herald-redis-')), 'redis');
  dirs.push(dataDir, join(dataDir, '..'));
  const port = await freePort();

  const first = await startEmbeddedRedis({ dataDir, port });
  servers.push(first);
  expect(first.url).toBe(`redis://127.0.0.1:${port}`);
  const client = new Redis(first.url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  expect(await client.ping()).toBe('PONG');
  const setting = async (name: string) => (await client.config('GET', name))[1];
  expect(await setting('appendonly')).toBe('yes');
  // every accepted notification's job on disk before its 202
  expect(await setting('appendfsync')).toBe('always');
  expect(await setting('maxmemory-policy')).toBe('noeviction');
  expect(await setting('bind')).toBe('127.0.0.1');
  expect(await setting('save')).toBe('');
  expect(await setting('dir')).toBe(dataDir);
  await client.set('herald:embedded', 'kept');
  client.disconnect();

  await first.stop();
  expect(isAlive(first.pid)).toBe(false);
  expect(await tcpAnswers('127.0.0.1', port)).toBe(false);
  expect(readdirSync(dataDir)).toContain('appendonlydir');

  // The append-only file was flushed at SHUTDOWN: a new server on the same directory has the key.
  const second = await startEmbeddedRedis({ dataDir, port });
  servers.push(second);
  const again = new Redis(second.url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
  again.on('error', () => undefined);
  expect(await again.get('herald:embedded')).toBe('kept');
  again.disconnect();
  await second.stop();
  expect(isAlive(second.pid)).toBe(false);
});

test('a port already taken is an error naming the reason, not a hang', { timeout: 30_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'herald-redis-'));
  dirs.push(dataDir);
  const port = await freePort();
  const holder = await startEmbeddedRedis({ dataDir: join(dataDir, 'a'), port });
  servers.push(holder);
  await expect(startEmbeddedRedis({ dataDir: join(dataDir, 'b'), port })).rejects.toThrow(/redis-server stopped at once .*(in use|bind)/i);
});

test("npm start warns about a Redis that would lose accepted notifications: no AOF, or an AOF fsynced only every second", async () => {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'herald-aof-'));
  dirs.push(dir);
  // appendonly no, like this machine's own; its AOF, once turned on, goes to the temporary directory
  const redis = spawnProcess('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], {});
  try {
    await waitFor(() => redis.lines.some((l) => l.includes('Ready to accept connections')), 10_000, 'redis-server to start');
    const url = `redis://127.0.0.1:${port}`;
    expect((await checkRedis(url)).warnings.join('\n')).toMatch(/appendonly no/);
    const admin = new Redis(url);
    try {
      await admin.config('SET', 'appendonly', 'yes');
      await admin.config('SET', 'appendfsync', 'everysec');
      expect((await checkRedis(url)).warnings.join('\n')).toMatch(/appendfsync is everysec/);
      await admin.config('SET', 'appendfsync', 'always');
      expect((await checkRedis(url)).warnings).toEqual([]);
    } finally {
      admin.disconnect();
    }
  } finally {
    await redis.stop('SIGKILL');
  }
});
