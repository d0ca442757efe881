import type { IncomingMessage } from 'node:http';
import type { MiddlewareHandler } from 'hono';
import { bodyLimit as honoBodyLimit } from 'hono/body-limit';
import { HeraldError } from '../../errors.js';

/** Request bodies above this are refused with 413 (1 MiB); a single send may be larger by its inline attachments. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** The 413 a body over `maxSize` bytes gets. */
export function bodyTooLarge(maxSize: number): never {
  throw new HeraldError(413, 'Content Too Large', `Request bodies are limited to ${maxSize} bytes.`);
}

/**
 * Refuses request bodies over `maxSize` bytes with 413.
 *
 * Under @hono/node-server a request with a Content-Length (every ordinary
 * client) is decided from the Node request's headers alone. Hono's own
 * bodyLimit reads `c.req.raw.body`, which makes the adapter build a full
 * web Request (Headers, AbortSignal, ReadableStream) for every request:
 * about a fifth of the api's CPU and much of its garbage at 1,000 sends/s.
 * Chunked bodies, and requests that do not come from a Node server (tests
 * calling `app.request`), go through Hono's bodyLimit, which counts bytes.
 */
export function bodyLimit(maxSize: number): MiddlewareHandler {
  const tooLarge = (): never => bodyTooLarge(maxSize);
  const counting = honoBodyLimit({ maxSize, onError: tooLarge });
  return async function limitBody(c, next) {
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
    const headers = incoming?.headers;
    if (!headers || headers['transfer-encoding'] !== undefined) return counting(c, next);
    const length = headers['content-length'];
    // neither header: HTTP/1.1 says there is no body
    if (length !== undefined && Number(length) > maxSize) tooLarge();
    await next();
  };
}
