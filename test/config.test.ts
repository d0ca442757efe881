import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { describe, expect, test } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { roleEnv } from './helpers/roles.js';
import { TEST_DATA_KEYS } from './helpers/env.js';

describe('configuration', () => {
  test('defaults are the documented ones', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      PORT: 8000,
      WS_PORT: 8001,
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/herald',
      REDIS_URL: 'redis://127.0.0.1:6379',
      RATE_LIMIT_USER_PER_MIN: 100,
      RATE_LIMIT_SERVICE_PER_MIN: 60000,
      MAX_CONNECTIONS_PER_USER: 3,
      HTTP_KEEP_ALIVE_TIMEOUT_MS: 65_000,
      WS_THREADS: Math.min(2, availableParallelism()),
      jwtSecretIsDefault: true,
    });
  });

  test.each([
    ['PORT', 'eighty'],
    ['DATABASE_URL', 'not a url'],
    ['REDIS_URL', '6379'],
    ['LOG_LEVEL', 'loud'],
    ['INGEST_CONCURRENCY', '0'],
    ['JWT_SECRET', 'short'],
  ])('a bad %s stops the process with a message naming it', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`\\b${name}\\b`));
  });

  test('JWT_SECRET is required in production', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/JWT_SECRET: required/);
    expect(loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'a-production-secret-of-length', HERALD_DATA_KEYS: TEST_DATA_KEYS }).jwtSecretIsDefault).toBe(false);
  });

  test('a process entry exits with the message, before touching anything', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/api/server.ts'], {
      env: { ...process.env, ...roleEnv({ PORT: 'eighty' }) },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status).toBe(78);
    expect(r.stderr).toContain('PORT');
  });
});
