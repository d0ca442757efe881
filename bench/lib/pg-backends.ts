import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { pidsNamed } from './cpu.js';

/** The inodes of the sockets a process holds open. */
function socketInodes(pid: number, into: Set<string>): void {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return; // gone
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) into.add(m[1]);
    } catch {
      /* closed meanwhile */
    }
  }
}

/** Local ports of the TCP connections to `serverPort` whose socket inode is in `inodes`. */
function localPortsTo(serverPort: number, inodes: Set<string>): Set<number> {
  const ports = new Set<number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || !inodes.has(f[9])) continue;
      if (parseInt(f[2].split(':')[1], 16) === serverPort) ports.add(parseInt(f[1].split(':')[1], 16));
    }
  }
  return ports;
}

/**
 * The PostgreSQL backends of `database` that serve the given client
 * processes, matched by the client port each backend names on its command
 * line (`postgres: … herald_bench 127.0.0.1(54321) idle`). On a shared
 * machine other people's programs use the same database; counting every
 * backend of it would charge their queries to the processes measured.
 */
export function pgBackendsOf(clientPids: number[], database: string, serverPort = 5432): number[] {
  const inodes = new Set<string>();
  for (const pid of clientPids) socketInodes(pid, inodes);
  const ports = localPortsTo(serverPort, inodes);
  return pidsNamed('postgres:', database).filter((pid) => {
    try {
      const m = /\((\d+)\)/.exec(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
      return m !== null && ports.has(Number(m[1]));
    } catch {
      return false;
    }
  });
}
