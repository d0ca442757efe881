/**
 * The one module that imports uWebSockets.js. Swapping the unofficial build
 * (an npm alias, see STACK.md) for upstream is a change to the import below;
 * everything else in Herald uses the types and helpers re-exported here.
 */
import uws from 'uWebSockets.js';

export type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, WebSocketBehavior, us_listen_socket } from 'uWebSockets.js';

export class UwsFallbackError extends Error {
  override name = 'UwsFallbackError';
}

/**
 * True when the native binary loaded. The package catches a failed native
 * load, prints a warning and silently returns a pure-JS fallback built on
 * `ws`; that fallback exports only App and two helpers, while the native
 * addon exports native functions (SSLApp, getParts, the compressor flags).
 */
export function isNative(mod: Record<string, unknown> = uws as unknown as Record<string, unknown>): boolean {
  const app = mod.App;
  return (
    typeof app === 'function' &&
    /\[native code\]/.test(Function.prototype.toString.call(app)) &&
    typeof mod.getParts === 'function' &&
    typeof mod.SHARED_COMPRESSOR === 'number'
  );
}

/** Refuses to run on the fallback: it is an order of magnitude slower and heavier per socket. */
export function assertNative(): void {
  if (!isNative()) {
    throw new UwsFallbackError(
      'uWebSockets.js loaded its slow JavaScript fallback instead of the native binary ' +
        `(Node ABI ${process.versions.modules}, ${process.platform}-${process.arch}, UWS_USE_FALLBACK=${process.env.UWS_USE_FALLBACK ?? ''}). ` +
        'The realtime node will not run on it: use a Node version with a bundled binary (Node 20 here).',
    );
  }
}

export function createApp() {
  return uws.App();
}

/** Listens on `port` (0 picks a free one); resolves with the listen socket and the actual port. */
export function listen(app: uws.TemplatedApp, port: number): Promise<{ socket: uws.us_listen_socket; port: number }> {
  return new Promise((resolve, reject) => {
    app.listen(port, (socket) => {
      if (!socket) reject(new Error(`realtime node could not listen on port ${port}`));
      else resolve({ socket, port: uws.us_socket_local_port(socket as unknown as uws.us_socket) });
    });
  });
}

export function closeListenSocket(socket: uws.us_listen_socket): void {
  uws.us_listen_socket_close(socket);
}

/**
 * Closes every socket of `app` still open, at once and without a close
 * frame: WebSockets, idle keep-alive HTTP connections (a health checker's),
 * and its listen sockets. This build has app.close() but its typings omit it.
 */
export function closeApp(app: uws.TemplatedApp): void {
  (app as unknown as { close(): void }).close();
}

/** No per-message deflate: notification frames are small and compression costs memory per socket. */
export const COMPRESSION_DISABLED = uws.DISABLED;
