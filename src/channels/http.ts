import { classifyUnknown, retryable, throttled } from './types.js';

export interface HttpReply<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/** Seconds or an HTTP date in Retry-After, as ms (default 1 s). */
export function retryAfterMs(headers: Headers, fallback = 1000): number {
  const v = headers.get('retry-after');
  if (!v) return fallback;
  const s = Number(v);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? fallback : Math.max(0, at - Date.now());
}

/**
 * One HTTP exchange with a provider. Network errors and timeouts become
 * retryable DeliveryErrors; 429 becomes throttled and 5xx retryable, so
 * each adapter only has to read its provider's own error codes.
 */
export async function requestJson<T = any>(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string; signal: AbortSignal },
): Promise<HttpReply<T>> {
  let res: Response;
  try {
    res = await fetch(url, { method: init.method ?? 'GET', headers: init.headers, body: init.body, signal: init.signal });
  } catch (err) {
    throw classifyUnknown(err);
  }
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    throw classifyUnknown(err);
  }
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON: keep the text */
  }
  if (res.status === 429) throw throttled('http_429', `throttled: ${text.slice(0, 200)}`, retryAfterMs(res.headers));
  if (res.status >= 500) throw retryable(`http_${res.status}`, `provider error ${res.status}: ${text.slice(0, 200)}`);
  return { status: res.status, body: body as T, headers: res.headers };
}

/** An access token cached until shortly before it expires; concurrent callers share one refresh. */
export class TokenCache {
  private token?: { value: string; until: number };
  private pending?: Promise<string>;

  constructor(private readonly fetchToken: () => Promise<{ value: string; expiresInS: number }>) {}

  async get(): Promise<string> {
    if (this.token && Date.now() < this.token.until) return this.token.value;
    this.pending ??= this.fetchToken()
      .then(({ value, expiresInS }) => {
        // refresh a minute early (or at half-life for short tokens) so a send never carries a token about to lapse
        const margin = Math.min(60, expiresInS / 2) * 1000;
        this.token = { value, until: Date.now() + expiresInS * 1000 - margin };
        return value;
      })
      .finally(() => (this.pending = undefined));
    return this.pending;
  }

  /** Forgets a token the provider refused, unless it was already replaced. */
  invalidate(value?: string): void {
    if (!value || this.token?.value === value) this.token = undefined;
  }
}
