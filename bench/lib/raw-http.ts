/**
 * A bare HTTP/1.1 keep-alive client for load generation: a pool of TCP
 * sockets, one request in flight per socket (no pipelining, like
 * http.Agent), requests written as one buffer and responses read with a
 * status-line + Content-Length (or chunked) parser. Node's http client
 * (ClientRequest, IncomingMessage, the agent's bookkeeping) costs a few
 * times more CPU per request; on a 2-core machine that shares its cores with
 * the system under test, the load generator's CPU is taken from the api,
 * the worker and PostgreSQL and shows up in their latency.
 */
import net from 'node:net';

export interface RawResponse {
  status: number;
  body: string;
}

interface Pending {
  head: Buffer;
  body: Buffer | null;
  resolve: (r: RawResponse) => void;
  reject: (err: Error) => void;
}

interface Conn {
  socket: net.Socket;
  current: Pending | null;
  buf: Buffer;
  /** when it last went idle (ms) */
  idleSince: number;
}

/**
 * An idle socket older than this is closed rather than reused: Node's http
 * server closes keep-alive sockets idle for 5 s (keepAliveTimeout), and a
 * request written just as it does fails with ECONNRESET.
 */
const MAX_IDLE_MS = 4000;

const CRLF2 = Buffer.from('\r\n\r\n');

export function createRawClient(baseUrl: string, maxSockets = 128) {
  const url = new URL(baseUrl);
  const host = url.hostname;
  const port = Number(url.port || 80);
  const idle: Conn[] = [];
  const queue: Pending[] = [];
  let open = 0;
  let closed = false;

  /** One response at the start of buf: [status, body, bytes used], or null while incomplete. */
  function parse(buf: Buffer): [number, string, number] | null {
    const end = buf.indexOf(CRLF2);
    if (end < 0) return null;
    const head = buf.toString('latin1', 0, end);
    const status = Number(head.slice(9, 12));
    const lower = head.toLowerCase();
    const cl = /\r\ncontent-length:\s*(\d+)/.exec(lower);
    const start = end + 4;
    if (cl) {
      const len = Number(cl[1]);
      if (buf.length < start + len) return null;
      return [status, buf.toString('utf8', start, start + len), start + len];
    }
    if (/\r\ntransfer-encoding:\s*chunked/.test(lower)) {
      const parts: Buffer[] = [];
      let pos = start;
      for (;;) {
        const lineEnd = buf.indexOf('\r\n', pos);
        if (lineEnd < 0) return null;
        const size = parseInt(buf.toString('latin1', pos, lineEnd), 16);
        if (buf.length < lineEnd + 2 + size + 2) return null;
        if (size === 0) return [status, Buffer.concat(parts).toString('utf8'), lineEnd + 4];
        parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
        pos = lineEnd + 2 + size + 2;
      }
    }
    // 204/304 or no body
    return [status, '', start];
  }

  function connect(): Conn {
    const socket = net.connect({ host, port, noDelay: true });
    const conn: Conn = { socket, current: null, buf: Buffer.alloc(0), idleSince: 0 };
    open++;
    socket.on('data', (chunk: Buffer) => {
      conn.buf = conn.buf.length ? Buffer.concat([conn.buf, chunk]) : chunk;
      const p = conn.current;
      if (!p) return;
      const r = parse(conn.buf);
      if (!r) return;
      conn.buf = conn.buf.subarray(r[2]);
      conn.current = null;
      p.resolve({ status: r[0], body: r[1] });
      next(conn);
    });
    let dead = false;
    const fail = (err: Error) => {
      if (dead) return;
      dead = true;
      open--;
      const p = conn.current;
      conn.current = null;
      const i = idle.indexOf(conn);
      if (i >= 0) idle.splice(i, 1);
      p?.reject(err);
      if (!closed && queue.length) start(connect());
    };
    socket.once('error', fail);
    socket.once('close', () => fail(new Error('socket closed')));
    return conn;
  }

  function start(conn: Conn) {
    const p = queue.shift();
    if (!p) {
      conn.idleSince = Date.now();
      return void idle.push(conn);
    }
    conn.current = p;
    if (p.body) conn.socket.write(Buffer.concat([p.head, p.body]));
    else conn.socket.write(p.head);
  }

  function next(conn: Conn) {
    if (closed) return void conn.socket.destroy();
    start(conn);
  }

  return {
    request(method: string, path: string, headers: Record<string, string>, body?: string): Promise<RawResponse> {
      return new Promise((resolve, reject) => {
        const payload = body === undefined ? null : Buffer.from(body);
        let head = `${method} ${path} HTTP/1.1\r\nhost: ${url.host}\r\nconnection: keep-alive\r\n`;
        for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
        if (payload) head += `content-length: ${payload.length}\r\n`;
        queue.push({ head: Buffer.from(`${head}\r\n`, 'latin1'), body: payload, resolve, reject });
        let conn = idle.pop();
        while (conn && Date.now() - conn.idleSince > MAX_IDLE_MS) {
          conn.socket.destroy();
          conn = idle.pop();
        }
        if (conn) start(conn);
        else if (open < maxSockets) start(connect());
      });
    },
    close() {
      closed = true;
      for (const c of idle.splice(0)) c.socket.destroy();
    },
  };
}
