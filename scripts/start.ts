/**
 * `npm start`: every role of the Procfile in one process group, for one
 * machine. Runs migrations once, then starts each role from its TypeScript
 * source with tsx, prefixing each line with the role's name in colour.
 * Ctrl-C (or SIGTERM) stops them all.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { loadConfigOrExit } from '../src/config.js';
import { migrate } from '../src/db/orm.js';
import { createLogger } from '../src/logger.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const COLOURS = [36, 33, 35, 32, 34, 91, 92, 93, 94, 95, 96];

/** Procfile lines `name: node dist/<path>.js` become `tsx <path>.ts`. */
export function rolesFromProcfile(text: string): Array<{ name: string; entry: string }> {
  return text
    .split('\n')
    .map((l) => /^([\w-]+):\s*node\s+dist\/(\S+)\.js/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ name: m[1], entry: `${m[2]}.ts` }));
}

const config = loadConfigOrExit();
const logger = createLogger(config, 'start');
await migrate({ url: config.DATABASE_URL, logger });

const roles = rolesFromProcfile(readFileSync(join(root, 'Procfile'), 'utf8'));
const width = Math.max(...roles.map((r) => r.name.length));
const children: ChildProcess[] = [];
let stopping = false;

roles.forEach((role, i) => {
  const tag = `\x1b[${COLOURS[i % COLOURS.length]}m${role.name.padEnd(width)} |\x1b[0m `;
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, role.entry)], {
    cwd: root,
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => process.stdout.write(tag + line + '\n'));
  }
  child.on('exit', (code, signal) => {
    process.stdout.write(`${tag}exited (${signal ?? code})\n`);
    if (!stopping) stop(code ?? 1);
  });
  children.push(child);
});

function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  const timer = setTimeout(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    process.exit(code || 1);
  }, 15_000);
  timer.unref();
  Promise.all(children.map((c) => (c.exitCode !== null ? null : new Promise((r) => c.once('exit', r))))).then(() => process.exit(code));
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
