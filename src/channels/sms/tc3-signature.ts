import { createHash, createHmac } from 'node:crypto';

/**
 * Tencent Cloud API 3.0 signature, TC3-HMAC-SHA256:
 *
 * 1. CanonicalRequest = METHOD \n URI \n QUERY \n CanonicalHeaders \n SignedHeaders \n hex(sha256(body)),
 *    where each signed header is `name:value\n` (both lowercased and trimmed, sorted by name)
 *    and SignedHeaders lists the names joined by `;` (content-type and host at least).
 * 2. StringToSign = `TC3-HMAC-SHA256` \n timestamp \n CredentialScope \n hex(sha256(CanonicalRequest)),
 *    CredentialScope = `<UTC date of the timestamp>/<service>/tc3_request`.
 * 3. SecretDate = HMAC("TC3" + SecretKey, date); SecretService = HMAC(SecretDate, service);
 *    SecretSigning = HMAC(SecretService, "tc3_request"); Signature = hex(HMAC(SecretSigning, StringToSign)).
 * 4. Authorization = `TC3-HMAC-SHA256 Credential=<SecretId>/<scope>, SignedHeaders=<names>, Signature=<sig>`.
 */
export const TC3_ALGORITHM = 'TC3-HMAC-SHA256';

export interface Tc3Input {
  method: string;
  /** the path; always `/` for API 3.0 */
  path?: string;
  /** the query string of a GET, already URL-encoded; empty for POST */
  query?: string;
  /** the headers to sign, by name (content-type and host must be among them) */
  headers: Record<string, string>;
  /** the body exactly as sent */
  payload: string;
  /** the product: the first label of its domain (`sms` for sms.tencentcloudapi.com) */
  service: string;
  /** X-TC-Timestamp, UNIX seconds */
  timestamp: number;
}

export interface Tc3Signed {
  canonicalRequest: string;
  credentialScope: string;
  stringToSign: string;
  signature: string;
  signedHeaders: string;
  authorization: string;
}

const sha256Hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const hmac = (key: string | Buffer, msg: string) => createHmac('sha256', key).update(msg, 'utf8').digest();

/** The UTC calendar day of a UNIX timestamp (a UTC+8 clock at 00:44 is still the day before). */
export const utcDate = (timestamp: number) => new Date(timestamp * 1000).toISOString().slice(0, 10);

export function canonicalRequest(input: Tc3Input): { canonical: string; signedHeaders: string } {
  const headers = Object.entries(input.headers)
    .map(([k, v]) => [k.trim().toLowerCase(), v.trim().toLowerCase()] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const signedHeaders = headers.map(([k]) => k).join(';');
  const canonicalHeaders = headers.map(([k, v]) => `${k}:${v}\n`).join('');
  const canonical = [input.method.toUpperCase(), input.path ?? '/', input.query ?? '', canonicalHeaders, signedHeaders, sha256Hex(input.payload)].join('\n');
  return { canonical, signedHeaders };
}

/** SecretSigning, the key derived for one day and one service. */
export function signingKey(secretKey: string, date: string, service: string): Buffer {
  return hmac(hmac(hmac(`TC3${secretKey}`, date), service), 'tc3_request');
}

export function tc3Sign(input: Tc3Input, secretId: string, secretKey: string): Tc3Signed {
  const { canonical, signedHeaders } = canonicalRequest(input);
  const date = utcDate(input.timestamp);
  const credentialScope = `${date}/${input.service}/tc3_request`;
  const stringToSign = [TC3_ALGORITHM, String(input.timestamp), credentialScope, sha256Hex(canonical)].join('\n');
  const signature = createHmac('sha256', signingKey(secretKey, date, input.service)).update(stringToSign, 'utf8').digest('hex');
  const authorization = `${TC3_ALGORITHM} Credential=${secretId}/${credentialScope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return { canonicalRequest: canonical, credentialScope, stringToSign, signature, signedHeaders, authorization };
}

/** The parts of an Authorization header (what a server reads before recomputing the signature); null when malformed. */
export function parseTc3Authorization(header: string): { secretId: string; date: string; service: string; signedHeaders: string[]; signature: string } | null {
  const m = /^TC3-HMAC-SHA256 Credential=([^/]+)\/(\d{4}-\d{2}-\d{2})\/([^/]+)\/tc3_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(header);
  if (!m) return null;
  return { secretId: m[1], date: m[2], service: m[3], signedHeaders: m[4].split(';'), signature: m[5] };
}
