import { createServer, type IncomingMessage } from 'node:http';
import { connect as tcpConnect, type AddressInfo, type Socket } from 'node:net';
import type { Cleanups } from './roles.js';

export interface WsGate {
  /** `pass` forwards upgrades to `port`; `block` answers 403 to every upgrade */
  mode: 'pass' | 'block';
  /** the realtime node upgrades are forwarded to; change it to point at a restarted node */
  port: number;
  /** the gate's WebSocket URL (`ws://127.0.0.1:<gate>/api/v1/ws`) */
  url: string;
  /** the HTTP status of every upgrade answer that went back to a client, in order (101 for an accepted one) */
  statuses: number[];
  /** cuts every connection passing through now, as a dropped network path would; later upgrades pass again */
  drop(): void;
}

/**
 * An HTTP front for a realtime node, as a proxy would stand in front of
 * it: in `pass` mode it forwards an upgrade to `port` byte for byte, in
 * `block` mode it answers 403 to every upgrade (a proxy that refuses
 * WebSockets). `cleanups` gets its shutdown.
 */
export async function startGate(port: number, cleanups: Cleanups): Promise<WsGate> {
  const piped = new Set<Socket>();
  const gate: WsGate = {
    mode: 'pass',
    port,
    url: '',
    statuses: [],
    drop() {
      for (const s of piped) s.destroy();
      piped.clear();
    },
  };
  const sockets = new Set<Socket>();
  const server = createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req: IncomingMessage, client: Socket, head: Buffer) => {
    sockets.add(client);
    if (gate.mode === 'block') {
      gate.statuses.push(403);
      client.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      return;
    }
    const upstream = tcpConnect({ host: '127.0.0.1', port: gate.port });
    sockets.add(upstream);
    piped.add(client).add(upstream);
    const lines = [`${req.method} ${req.url} HTTP/1.1`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    upstream.write(lines.join('\r\n') + '\r\n\r\n');
    upstream.write(head);
    // the first bytes back are the node's answer to the upgrade: its status line says whether it accepted
    upstream.once('data', (chunk: Buffer) => {
      const status = /^HTTP\/1\.1 (\d{3})/.exec(chunk.toString('latin1'));
      if (status) gate.statuses.push(Number(status[1]));
    });
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      piped.delete(client);
      piped.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  gate.url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/ws`;
  const close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  if (Array.isArray(cleanups)) cleanups.push(close);
  else cleanups.add('gate', close);
  return gate;
}
