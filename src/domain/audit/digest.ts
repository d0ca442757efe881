import { createHmac, hkdfSync } from 'node:crypto';
import type { DataKey } from '../../crypto/keyring.js';
import { dataKeys } from '../../crypto/process-keys.js';

/**
 * One JSON text per value, whatever order its keys were built in: object
 * keys sorted by UTF-16 code unit (as RFC 8785 sorts them), no whitespace,
 * dates as ISO strings (their toJSON), bigints as decimal strings, and
 * undefined members left out as JSON.stringify leaves them out. Two equal
 * states therefore always give the same digest.
 */
export function canonicalJson(value: unknown): string {
  return canonical(value) ?? 'null';
}

function canonical(v: unknown): string | undefined {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'bigint':
      return JSON.stringify(v.toString());
    case 'object':
      break;
    default:
      // strings, booleans, numbers (NaN and Infinity become null, as in JSON.stringify)
      return JSON.stringify(v);
  }
  const withJson = v as { toJSON?: () => unknown };
  if (typeof withJson.toJSON === 'function') return canonical(withJson.toJSON());
  if (Array.isArray(v)) return `[${v.map((x) => canonical(x) ?? 'null').join(',')}]`;
  const members: string[] = [];
  for (const key of Object.keys(v).sort()) {
    const text = canonical((v as Record<string, unknown>)[key]);
    if (text !== undefined) members.push(`${JSON.stringify(key)}:${text}`);
  }
  return `{${members.join(',')}}`;
}

const INFO = 'herald/audit-digest/v1';
const derived = new WeakMap<DataKey, Buffer>();

/** The digest key: derived from the first data key (HKDF), like the blind indexes' (src/crypto/blind-index.ts). */
function digestKey(): Buffer {
  const dk = dataKeys().primary;
  let k = derived.get(dk);
  if (!k) derived.set(dk, (k = Buffer.from(hkdfSync('sha256', dk.key, Buffer.alloc(0), INFO, 32))));
  return k;
}

/**
 * The HMAC-SHA256 (hex) of a state's canonical JSON, or null when there is
 * no state (null or undefined). The audit log stores this instead of the
 * state: it proves which state was there without keeping any of its text or
 * addresses. Keyed, not a plain hash: a recipient's state is little more
 * than a phone number or an email, and a plain SHA-256 of it could be found
 * by trying every number. After a key rotation the same state has another
 * digest: compare digests written under one key.
 */
export function stateDigest(state: unknown): string | null {
  if (state === null || state === undefined) return null;
  return createHmac('sha256', digestKey()).update(canonicalJson(state), 'utf8').digest('hex');
}
