import { readFileSync, readdirSync } from 'node:fs';

const TICK_US = 10_000; // USER_HZ is 100 on Linux: one clock tick is 10 ms

/** CPU time (user + system) a process has used so far, in µs; 0 when it is gone. */
export function cpuMicros(pid: number): number {
  try {
    // fields after the command name (which may hold spaces): utime is the 14th field, stime the 15th
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) * TICK_US;
  } catch {
    return 0;
  }
}

/** The pids of every process whose command line starts with `name` and holds `holding` (e.g. the PostgreSQL backends of one database). */
export function pidsNamed(name: string, holding = ''): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmd.startsWith(name) && cmd.includes(holding)) out.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return out;
}

/**
 * CPU used by groups of processes between `start()` and `stop()`, in µs per
 * group. A group is a function returning its pids at the time (PostgreSQL
 * forks backends as clients connect: read at both ends; a backend that
 * exits in between loses its share, so keep connections pooled).
 */
export function cpuMeter(groups: Record<string, () => number[]>) {
  const read = () => Object.fromEntries(Object.entries(groups).map(([k, pids]) => [k, new Map(pids().map((p) => [p, cpuMicros(p)]))]));
  let before = read();
  return {
    start() {
      before = read();
    },
    stop(): Record<string, number> {
      const after = read();
      return Object.fromEntries(
        Object.keys(groups).map((k) => {
          let sum = 0;
          for (const [pid, us] of after[k]) sum += us - (before[k].get(pid) ?? 0);
          return [k, sum];
        }),
      );
    },
  };
}
