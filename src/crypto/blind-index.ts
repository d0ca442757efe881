import { createHmac, hkdfSync } from 'node:crypto';
import type { DataKey, Keyring } from './keyring.js';

/**
 * Blind indexes: an HMAC-SHA256 of a normalised contact value, so Herald can
 * find the recipient an email or phone number belongs to without storing it
 * in clear (sealed values are randomised and cannot be compared).
 *
 * The HMAC key is derived from each data key with HKDF (fixed info string),
 * not configured apart: one secret list to keep and rotate, and whoever
 * holds the data keys can read the values anyway. A row's index is made with
 * the key that sealed its values; lookups compute the index under every
 * listed key, so rows written before and after a rotation are both found,
 * and `npm run rekey` recomputes the index when it reseals a row.
 */

/** What the value is: each kind is normalised its own way and hashed apart, so an email never matches a phone index. */
export type IndexedKind = 'email' | 'phone' | 'address';

const INFO = 'herald/blind-index/v1';
const derived = new WeakMap<DataKey, Buffer>();

function indexKey(dk: DataKey): Buffer {
  let k = derived.get(dk);
  if (!k) derived.set(dk, (k = Buffer.from(hkdfSync('sha256', dk.key, Buffer.alloc(0), INFO, 32))));
  return k;
}

/** Emails compare without case or surrounding spaces (as the old lower(email) index did); phones as stored; other addresses exactly. */
export function normalise(kind: IndexedKind, value: string): string {
  if (kind === 'email') return value.trim().toLowerCase();
  if (kind === 'phone') return value.trim();
  return value;
}

const hmac = (dk: DataKey, kind: IndexedKind, value: string) =>
  createHmac('sha256', indexKey(dk)).update(`${kind}\u0000${normalise(kind, value)}`).digest('base64url');

/** The index a row written now stores: under the first key. */
export function blindIndex(keys: Keyring, kind: IndexedKind, value: string): string {
  return hmac(keys.primary, kind, value);
}

/** Every index the value may be stored under while keys are rotated: one per listed key. */
export function blindIndexes(keys: Keyring, kind: IndexedKind, value: string): string[] {
  return keys.keys.map((dk) => hmac(dk, kind, value));
}
