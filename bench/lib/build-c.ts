/**
 * The bench's load clients are small C programs (bench/lib/*.c): on a
 * 2-core machine shared with the system under test, a Node client's CPU per
 * frame or request was taken from what it measured. Each is compiled on
 * first use with the system's C compiler (cc, or CC=…) into
 * node_modules/.cache/herald-bench, and again when its source is newer.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** Compiles bench/lib/<name>.c unless its binary is newer than it and bench-util.h; returns the binary's path. */
export function buildBinary(name: string): string {
  const source = join(here, `${name}.c`);
  const binary = join(process.cwd(), 'node_modules/.cache/herald-bench', name);
  const newest = Math.max(statSync(source).mtimeMs, statSync(join(here, 'bench-util.h')).mtimeMs);
  if (existsSync(binary) && statSync(binary).mtimeMs >= newest) return binary;
  mkdirSync(dirname(binary), { recursive: true });
  try {
    execFileSync(process.env.CC ?? 'cc', ['-O2', '-Wall', '-o', binary, source], { stdio: 'inherit' });
  } catch (err) {
    throw new Error(`bench/realtime builds its load clients with a C compiler (cc, or CC=…): ${(err as Error).message}`);
  }
  return binary;
}
