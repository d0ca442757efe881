/**
 * The supervisor behind `npm start`, driven with small real processes: a role
 * that dies is restarted with a doubling wait and an error line saying so,
 * the others keep running, and stop() restarts nothing.
 */
import { afterEach, expect, test } from 'vitest';
import { createLogger } from '../src/logger.js';
import { restartDelay, superviseRoles, type Supervisor } from '../scripts/supervisor.js';
import { isAlive, ROOT } from './helpers/procs.js';
import { waitFor } from './helpers/harness.js';

const node = (name: string, code: string) => ({ name, command: process.execPath, args: ['-e', code] });
const STEADY = 'console.log("up"); setInterval(() => {}, 1000); process.on("SIGTERM", () => { console.log("bye"); process.exit(0); });';

let running: Supervisor | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

function supervise(roles: ReturnType<typeof node>[], backoff = { firstMs: 100, maxMs: 400, healthyAfterMs: 60_000 }, stopTimeoutMs = 5000) {
  const records: Array<Record<string, any>> = [];
  const lines: Array<[string, string]> = [];
  const logger = createLogger({ LOG_LEVEL: 'info', PRETTY_LOGS: false }, 'start', { write: (s: string) => void records.push(JSON.parse(s)) });
  running = superviseRoles(logger, { roles, cwd: ROOT, env: process.env, onLine: (role, line) => lines.push([role, line]), stopTimeoutMs, backoff });
  return { supervisor: running, records, lines, deaths: () => records.filter((r) => r.msg.startsWith('role crashy died')) };
}

test('the wait before a restart doubles with each crash in a row, up to its maximum', () => {
  const backoff = { firstMs: 1000, maxMs: 30_000, healthyAfterMs: 60_000 };
  expect([1, 2, 3, 4, 5, 6, 7, 50].map((n) => restartDelay(backoff, n))).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
});

test('a role that keeps dying is restarted with backoff and logged as an error; the other role keeps running', { timeout: 30_000 }, async () => {
  const { supervisor, records, lines, deaths } = supervise([node('steady', STEADY), node('crashy', 'process.exit(3)')]);
  await waitFor(() => supervisor.pid('steady') !== undefined && lines.some(([r, l]) => r === 'steady' && l === 'up'), 10_000, 'the steady role');
  const steadyPid = supervisor.pid('steady')!;

  await waitFor(() => deaths().length >= 4, 20_000, 'four restarts of the crashing role');
  const died = deaths().slice(0, 4);
  expect(died.every((r) => r.level === 50)).toBe(true); // error
  expect(died.map((r) => [r.roleName, r.code, r.restart, r.delayMs])).toEqual([
    ['crashy', 3, 1, 100],
    ['crashy', 3, 2, 200],
    ['crashy', 3, 3, 400],
    ['crashy', 3, 4, 400],
  ]);
  expect(records.filter((r) => r.msg === 'role restarted' && r.roleName === 'crashy').length).toBeGreaterThanOrEqual(3);
  expect(lines.filter(([r, l]) => r === 'crashy' && l === 'exited (3)').length).toBeGreaterThanOrEqual(4);

  // the other role was never touched
  expect(supervisor.pid('steady')).toBe(steadyPid);
  expect(isAlive(steadyPid)).toBe(true);

  // stop() ends the steady one with SIGTERM and cancels the pending restart
  const restartsBefore = records.filter((r) => r.msg === 'role restarted').length;
  expect(await supervisor.stop()).toBe(true);
  expect(isAlive(steadyPid)).toBe(false);
  expect(lines).toContainEqual(['steady', 'bye']);
  await new Promise((r) => setTimeout(r, 600)); // longer than the longest wait: a restart would have happened
  expect(records.filter((r) => r.msg === 'role restarted').length).toBe(restartsBefore);
  expect(supervisor.pid('crashy')).toBeUndefined();
});

test('a role killed with SIGKILL comes back, and one that had run long enough starts again from the first wait', { timeout: 30_000 }, async () => {
  const { supervisor, records, deaths } = supervise([node('crashy', STEADY)], { firstMs: 100, maxMs: 400, healthyAfterMs: 500 });
  await waitFor(() => supervisor.pid('crashy'), 10_000, 'the role');
  const pids: number[] = [];
  for (let i = 0; i < 3; i++) {
    const pid = await waitFor(() => supervisor.pid('crashy'), 10_000, 'the role to be back');
    pids.push(pid);
    process.kill(pid, 'SIGKILL');
    await waitFor(() => deaths().length > i, 10_000, 'the death to be logged');
  }
  // three quick deaths: the waits double
  expect(deaths().map((r) => [r.signal, r.restart, r.delayMs])).toEqual([
    ['SIGKILL', 1, 100],
    ['SIGKILL', 2, 200],
    ['SIGKILL', 3, 400],
  ]);
  // once it has stayed up longer than healthyAfterMs, the next death waits the first delay again
  const pid = await waitFor(() => supervisor.pid('crashy'), 10_000, 'the role to be back');
  await waitFor(() => records.some((r) => r.msg === 'role restarted' && r.rolePid === pid && Date.now() - r.time > 600), 10_000, 'the role to run for a while');
  process.kill(pid, 'SIGKILL');
  await waitFor(() => deaths().length === 4, 10_000, 'the fourth death');
  expect(deaths()[3]).toMatchObject({ restart: 4, inARow: 1, delayMs: 100 });
  expect(new Set([...pids, pid]).size).toBe(4);
});

test('stop() kills a role that ignores SIGTERM once its timeout has passed, and says it was not clean', { timeout: 30_000 }, async () => {
  const { supervisor, lines } = supervise([node('stubborn', 'process.on("SIGTERM", () => {}); console.log("up"); setInterval(() => {}, 1000);')], undefined, 300);
  await waitFor(() => lines.some(([, l]) => l === 'up'), 10_000, 'the role');
  const pid = supervisor.pid('stubborn')!;
  expect(await supervisor.stop()).toBe(false);
  expect(isAlive(pid)).toBe(false);
  expect(lines).toContainEqual(['stubborn', 'exited (SIGKILL)']);
});
