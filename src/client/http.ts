import { HeraldError } from './herald-error.js';
import type { Problem } from './api-types.js';
import type { TokenSource } from './token-source.js';

export type FetchLike = (input: string, init: { method: string; headers: Record<string, string>; body?: string }) => Promise<{
  status: number;
  ok: boolean;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
}>;

export type QueryValue = string | number | boolean | undefined;

/**
 * JSON over HTTP to the api's /api/v1 with the bearer token. A 401 asks the
 * token source for a fresh token once and retries (an expired token is the
 * usual cause); any other answer outside 2xx is a HeraldError.
 */
export class HttpApi {
  constructor(
    private readonly base: string,
    private readonly fetch: FetchLike,
    private readonly tokens: TokenSource,
  ) {}

  async request<T>(method: string, path: string, opts: { query?: Record<string, QueryValue>; body?: unknown } = {}): Promise<T> {
    const url = this.base + path + queryString(opts.query);
    const send = async (token: string) => {
      const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json' };
      let body: string | undefined;
      if (opts.body !== undefined) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(opts.body);
      }
      try {
        return await this.fetch(url, { method, headers, body });
      } catch (err) {
        throw new HeraldError(0, null, `network error: ${(err as Error).message}`);
      }
    };
    const used = await this.tokens.current();
    let res = await send(used);
    if (res.status === 401 && this.tokens.canRefresh) res = await send(await this.tokens.refreshIfStill(used));
    const text = await res.text();
    const parsed = parse(text);
    if (!res.ok) throw new HeraldError(res.status, isProblem(parsed) ? parsed : null);
    return parsed as T;
  }
}

function queryString(query: Record<string, QueryValue> = {}): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(query)) if (v !== undefined) parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

function parse(text: string): unknown {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

const isProblem = (v: unknown): v is Problem => typeof v === 'object' && v !== null && typeof (v as Problem).status === 'number';
