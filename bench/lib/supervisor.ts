/**
 * Herald's roles as production runs them: one process per Procfile line
 * (`node dist/...`, the compiled layout), each restarted when it exits, the
 * way a process supervisor (systemd, Kubernetes, a Procfile runner) would.
 * A kill the bench makes is restarted after a fixed delay; any other exit
 * is a crash, recorded, and restarted with a growing delay. Every start and
 * exit is kept with its time, so a fault's row can say what else fell over.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';

export interface RoleEvent {
  role: string;
  kind: 'start' | 'exit';
  /** ms since the epoch */
  at: number;
  /** the bench killed it on purpose */
  planned?: boolean;
  code?: number | null;
  signal?: string | null;
}

interface Role {
  name: string;
  command: string;
  args: string[];
  child?: ChildProcess;
  plannedKill: boolean;
  /** crashes in a row, for the backoff; reset after a minute up */
  crashes: number;
  startedAt: number;
  restartTimer?: NodeJS.Timeout;
}

/** `name: command args…` lines of a Procfile. */
export function readProcfile(path: string): Array<{ name: string; command: string; args: string[] }> {
  return readFileSync(path, 'utf8')
    .split('\n')
    .map((l) => /^([\w-]+):\s*(.+)$/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map(([, name, line]) => {
      const [command, ...args] = line.trim().split(/\s+/);
      return { name, command: command === 'node' ? process.execPath : command, args };
    });
}

export class Supervisor {
  readonly events: RoleEvent[] = [];
  private readonly roles = new Map<string, Role>();
  private readonly logs: WriteStream;
  private stopping = false;

  /**
   * env: every role's environment (on top of this process's);
   * restartDelayMs: how long after a planned kill the role is started again (default 1000).
   */
  constructor(
    procfile: Array<{ name: string; command: string; args: string[] }>,
    private readonly env: Record<string, string>,
    logDir: string,
    private readonly restartDelayMs = 1000,
  ) {
    for (const p of procfile) this.roles.set(p.name, { ...p, plannedKill: false, crashes: 0, startedAt: 0 });
    this.logs = createWriteStream(join(logDir, 'roles.log'), { flags: 'a' });
  }

  get names(): string[] {
    return [...this.roles.keys()];
  }

  startAll(): void {
    for (const name of this.roles.keys()) this.start(name);
  }

  running(name: string): boolean {
    const c = this.role(name).child;
    return !!c && c.exitCode === null && c.signalCode === null;
  }

  /** Kills a role with `signal` (SIGKILL: no shutdown code runs) and restarts it restartDelayMs later; resolves at its exit. */
  async kill(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<number> {
    const role = this.role(name);
    const child = role.child;
    if (!child || !this.running(name)) throw new Error(`${name} is not running`);
    role.plannedKill = true;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
    return Date.now();
  }

  /** Stops every role (SIGTERM, then SIGKILL after graceMs) and restarts none. */
  async stopAll(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    const waits = [...this.roles.values()].map(async (role) => {
      clearTimeout(role.restartTimer);
      const child = role.child;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    });
    await Promise.all(waits);
    await new Promise((r) => this.logs.end(r));
  }

  private role(name: string): Role {
    const role = this.roles.get(name);
    if (!role) throw new Error(`no role ${name} in the Procfile (roles: ${this.names.join(', ')})`);
    return role;
  }

  private start(name: string): void {
    if (this.stopping) return;
    const role = this.role(name);
    const child = spawn(role.command, role.args, {
      env: { ...process.env, LOG_LEVEL: 'warn', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    role.child = child;
    role.startedAt = Date.now();
    this.events.push({ role: name, kind: 'start', at: role.startedAt });
    const tag = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) if (line) this.logs.write(`${name} ${line}\n`);
    };
    child.stdout!.on('data', tag);
    child.stderr!.on('data', tag);
    child.once('exit', (code, signal) => {
      const planned = role.plannedKill;
      role.plannedKill = false;
      this.events.push({ role: name, kind: 'exit', at: Date.now(), planned, code, signal });
      this.logs.write(`${name} exited (${signal ?? code})${planned ? ' — killed by the bench' : ''}\n`);
      if (this.stopping) return;
      let delay = this.restartDelayMs;
      if (!planned) {
        // a crash: 1 s, 2 s, 4 s … 10 s while it keeps crashing, as a supervisor's backoff does
        role.crashes = Date.now() - role.startedAt > 60_000 ? 1 : role.crashes + 1;
        delay = Math.min(10_000, 1000 * 2 ** (role.crashes - 1));
      }
      role.restartTimer = setTimeout(() => this.start(name), delay);
    });
  }
}
