import { isCursor } from '../domain/inbox/cursors.js';
import type { FieldError } from '../errors.js';
import type { HttpRequest, HttpResponse } from './uws.js';

/** Plain HTTP answers of the realtime node (refused upgrades, health), as problem+json like the api. */

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  404: '404 Not Found',
  426: '426 Upgrade Required',
  429: '429 Too Many Requests',
  503: '503 Service Unavailable',
};

export function sendJson(res: HttpResponse, status: number, body: unknown, contentType = 'application/json', headers: Record<string, string> = {}): void {
  res.cork(() => {
    res.writeStatus(STATUS_TEXT[status] ?? `${status} Error`).writeHeader('content-type', contentType).writeHeader('cache-control', 'no-store');
    for (const [name, value] of Object.entries(headers)) res.writeHeader(name, value);
    res.end(JSON.stringify(body));
  });
}

export function sendProblem(res: HttpResponse, status: number, title: string, detail: string, errors?: FieldError[], headers?: Record<string, string>): void {
  const type = `https://herald.dev/problems/${title.toLowerCase().replace(/[^a-z]+/g, '-')}`;
  sendJson(res, status, { type, title, status, detail, ...(errors ? { errors } : {}) }, 'application/problem+json', headers);
}

/** 429 for an upgrade over a limit: Retry-After in whole seconds (at least 1), no socket. */
export function sendTooManyUpgrades(res: HttpResponse, retryAfterMs: number, detail: string): void {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  sendProblem(res, 429, 'Too Many Requests', `${detail} Retry after the time in Retry-After.`, undefined, { 'retry-after': String(seconds) });
}

/** What the upgrade handler needs from the request; uWS requests are only valid until the handler returns or awaits. */
export interface UpgradeRequest {
  token: string;
  since: string | null;
  key: string;
  protocol: string;
  extensions: string;
}

/**
 * Reads the token (`?token=`, else an `Authorization: Bearer` header for
 * non-browser clients) and `?since=`. Returns the problem to answer instead
 * when the request cannot become a socket.
 */
export function readUpgrade(req: HttpRequest): { ok: true; value: UpgradeRequest } | { ok: false; status: number; title: string; detail: string; errors?: FieldError[] } {
  const bearer = /^Bearer\s+(\S+)$/i.exec(req.getHeader('authorization'))?.[1] ?? '';
  const token = req.getQuery('token') || bearer;
  const sinceRaw = req.getQuery('since') ?? '';
  const value: UpgradeRequest = {
    token,
    since: null,
    key: req.getHeader('sec-websocket-key'),
    protocol: req.getHeader('sec-websocket-protocol'),
    extensions: req.getHeader('sec-websocket-extensions'),
  };
  if (sinceRaw) {
    if (!isCursor(sinceRaw)) {
      return {
        ok: false,
        status: 400,
        title: 'Bad Request',
        detail: 'The query has invalid parameters.',
        errors: [{ path: 'since', message: 'must be a cursor from an earlier frame' }],
      };
    }
    value.since = BigInt(sinceRaw).toString();
  }
  if (!token) return { ok: false, status: 401, title: 'Unauthorized', detail: 'A token is required: connect with ?token=<JWT>.' };
  return { ok: true, value };
}
