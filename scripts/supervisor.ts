/**
 * Keeps the roles of `npm start` running on one machine. A role that exits
 * while we are not stopping (a crash, an out-of-memory kill, `kill -9`, even
 * a clean exit nobody asked for) is started again after a delay that doubles
 * with each crash in a row, and the other roles are left alone: one bad role
 * must not take the api down with it. stop() sends SIGTERM to every role,
 * restarts nothing meanwhile, and SIGKILLs what is still running after its
 * timeout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from '../src/logger.js';

export interface RoleSpec {
  name: string;
  command: string;
  args: string[];
}

export interface Backoff {
  /** wait before restarting a role after its first crash in a row, in ms (default 1000) */
  firstMs: number;
  /** the wait doubles with each crash in a row up to this, in ms (default 30000) */
  maxMs: number;
  /** a role that ran this long before it died was healthy: its next wait is firstMs again, in ms (default 60000) */
  healthyAfterMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { firstMs: 1000, maxMs: 30_000, healthyAfterMs: 60_000 };

/** The wait before the `inARow`-th restart (1, 2, …) of a role that keeps crashing. */
export function restartDelay(backoff: Backoff, inARow: number): number {
  return Math.min(backoff.maxMs, backoff.firstMs * 2 ** Math.min(Math.max(inARow, 1) - 1, 30));
}

export interface SupervisorOptions {
  roles: RoleSpec[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** every line a role writes on stdout or stderr, and an `exited (<code or signal>)` line when it ends */
  onLine: (role: string, line: string) => void;
  /** after SIGTERM, how long stop() waits before it SIGKILLs a role, in ms */
  stopTimeoutMs: number;
  backoff?: Partial<Backoff>;
}

export interface Supervisor {
  /** the process id of a role's running process (undefined while it waits to be restarted) */
  pid(role: string): number | undefined;
  /** Stops every role; resolves true when each exited on its own after SIGTERM, false when one had to be killed. */
  stop(): Promise<boolean>;
}

interface RoleState {
  spec: RoleSpec;
  child?: ChildProcess;
  startedAt: number;
  /** crashes since the role last ran longer than healthyAfterMs */
  inARow: number;
  restarts: number;
  timer?: NodeJS.Timeout;
}

/** Starts every role now and keeps them running until stop(). */
export function superviseRoles(logger: Logger, opts: SupervisorOptions): Supervisor {
  const backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
  const roles = new Map<string, RoleState>(opts.roles.map((spec) => [spec.name, { spec, startedAt: 0, inARow: 0, restarts: 0 }]));
  let stopping: Promise<boolean> | undefined;

  const launch = (role: RoleState) => {
    role.timer = undefined;
    const { name, command, args } = role.spec;
    const child = spawn(command, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    role.child = child;
    role.startedAt = Date.now();
    for (const stream of [child.stdout!, child.stderr!]) createInterface({ input: stream }).on('line', (line) => opts.onLine(name, line));
    let ended = false;
    const onEnd = (code: number | null, signal: NodeJS.Signals | null, err?: Error) => {
      if (ended) return;
      ended = true;
      role.child = undefined;
      opts.onLine(name, `exited (${err ? err.message : (signal ?? code)})`);
      if (!stopping) scheduleRestart(role, { pid: child.pid, code, signal, err });
    };
    child.once('exit', (code, signal) => onEnd(code, signal));
    // spawn itself failed (no process ever ran): treated like a crash, so a missing binary is retried and shouted about too
    child.once('error', (err) => {
      if (child.pid === undefined) onEnd(null, null, err);
      else logger.error({ err, roleName: name, rolePid: child.pid }, 'role process error');
    });
    if (child.pid !== undefined) {
      logger.info({ roleName: name, rolePid: child.pid, restart: role.restarts || undefined }, role.restarts ? 'role restarted' : 'role started');
    }
  };

  const scheduleRestart = (role: RoleState, died: { pid?: number; code: number | null; signal: NodeJS.Signals | null; err?: Error }) => {
    const ranMs = Date.now() - role.startedAt;
    if (ranMs >= backoff.healthyAfterMs) role.inARow = 0;
    role.inARow += 1;
    role.restarts += 1;
    const delayMs = restartDelay(backoff, role.inARow);
    logger.error(
      { roleName: role.spec.name, rolePid: died.pid, code: died.code, signal: died.signal, err: died.err, ranMs, restart: role.restarts, inARow: role.inARow, delayMs },
      `role ${role.spec.name} died (${died.signal ?? died.err?.message ?? `exit code ${died.code}`}); restart ${role.restarts} in ${delayMs} ms, the other roles keep running`,
    );
    role.timer = setTimeout(() => launch(role), delayMs);
  };

  const stopAll = async (): Promise<boolean> => {
    const running: ChildProcess[] = [];
    for (const role of roles.values()) {
      if (role.timer) clearTimeout(role.timer);
      role.timer = undefined;
      if (role.child) running.push(role.child);
    }
    for (const child of running) child.kill('SIGTERM');
    let clean = true;
    const killer = setTimeout(() => {
      for (const child of running) {
        if (child.exitCode !== null || child.signalCode !== null) continue;
        clean = false;
        logger.error({ rolePid: child.pid, timeoutMs: opts.stopTimeoutMs }, 'a role did not stop after SIGTERM: killing it');
        child.kill('SIGKILL');
      }
    }, opts.stopTimeoutMs);
    await Promise.all(running.map((c) => (c.exitCode !== null || c.signalCode !== null ? null : new Promise((r) => c.once('exit', r)))));
    clearTimeout(killer);
    return clean;
  };

  for (const role of roles.values()) launch(role);
  return {
    pid: (name) => roles.get(name)?.child?.pid,
    stop: () => (stopping ??= stopAll()),
  };
}
