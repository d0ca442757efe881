import { createHmac } from 'node:crypto';

/**
 * Aliyun POP (RPC style) signature, version 1.0: the parameters sorted by
 * name, each name and value percent-encoded per RFC 3986 (space as %20, `*`
 * as %2A, `~` kept), joined as a query string; the string to sign is
 * `METHOD&%2F&<encoded query>`; the key is the AccessKey secret plus `&`;
 * HMAC-SHA1, base64.
 */
export function percentEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function canonicalQuery(params: Record<string, string>): string {
  return Object.keys(params)
    .sort()
    .map((k) => `${percentEncode(k)}=${percentEncode(params[k])}`)
    .join('&');
}

export function popSignature(method: string, params: Record<string, string>, secret: string): string {
  const toSign = `${method}&${percentEncode('/')}&${percentEncode(canonicalQuery(params))}`;
  return createHmac('sha1', `${secret}&`).update(toSign).digest('base64');
}
