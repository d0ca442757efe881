import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Closes an idle keep-alive connection only after looking at what it has
 * received. Node closes one from a timer, and after the process has been
 * stalled (descheduled on a loaded host, a long GC pause, a paused VM) its
 * event loop runs expired timers before it reads sockets: a request that
 * reached the connection in time, sent right after the previous answer, was
 * destroyed unread and the client saw the connection reset with no answer.
 * Here the timeout only starts the decision; it is taken after the next read
 * of the sockets (setImmediate runs after that I/O phase), and a connection
 * that received bytes meanwhile is serving a request (Node arms the timeout
 * again once it is answered).
 *
 * The api sets no other socket timeout (server.timeout stays 0; slow
 * requests are bounded by requestTimeout and headersTimeout, which do not go
 * through this event), so every 'timeout' here is an idle keep-alive one.
 */
export function closeIdleAfterPendingReads(server: Server): void {
  server.on('timeout', function closeIfStillIdle(socket: Socket) {
    const readBefore = socket.bytesRead;
    setImmediate(() => {
      if (!socket.destroyed && socket.bytesRead === readBefore) socket.destroy();
    });
  });
}
