/**
 * Whose inbox a token opens, as `tenant/sub`, read from the JWT's payload
 * without verifying it (the server does that): tabs of the same user share
 * one socket and one cache under this key. Null when the token is not a JWT.
 */
export function userKey(token: string): string | null {
  const payload = token.split('.')[1];
  if (!payload) return null;
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(payload.length / 4) * 4, '='));
    const claims = JSON.parse(decodeURIComponent(escapeBytes(json))) as { sub?: unknown; tenant?: unknown };
    if (typeof claims.sub !== 'string' || !claims.sub) return null;
    return `${typeof claims.tenant === 'string' && claims.tenant ? claims.tenant : 'default'}/${claims.sub}`;
  } catch {
    return null;
  }
}

/** atob gives one character per byte; this turns UTF-8 bytes into %XX for decodeURIComponent. */
function escapeBytes(binary: string): string {
  let out = '';
  for (let i = 0; i < binary.length; i++) out += '%' + binary.charCodeAt(i).toString(16).padStart(2, '0');
  return out;
}
