import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Keyring } from './keyring.js';

/**
 * One value sealed with AES-256-GCM, stored as compact text:
 * `v1.<kid>.<base64url iv>.<base64url ciphertext and tag>`. The key id says
 * which key of HERALD_DATA_KEYS opens it, so values sealed with different
 * keys live side by side while keys are rotated. The `v1.<kid>` header is
 * authenticated too: a value moved under another key id does not open.
 *
 * A value without this shape is a plain one written before encryption was
 * introduced: it reads as it is until `npm run rekey` seals it. Input that
 * looks sealed is refused where contact data comes in (recipients.ts), so a
 * plain value cannot be mistaken for a sealed one.
 */

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const SEALED = /^v1\.([A-Za-z0-9_-]{1,32})\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{22,})$/;

/** A sealed value that could not be opened. The message names the key id, never the value. */
export class UnsealError extends Error {
  override name = 'UnsealError';
  constructor(
    message: string,
    readonly keyId: string,
  ) {
    super(message);
  }
}

export const isSealed = (value: string): boolean => SEALED.test(value);

/** The id of the key that sealed `value`; null for a plain value. */
export function sealedKeyId(value: string): string | null {
  return SEALED.exec(value)?.[1] ?? null;
}

export function sealValue(keys: Keyring, plain: string): string {
  const { id, key } = keys.primary;
  const header = `${VERSION}.${id}`;
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(header));
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return `${header}.${iv.toString('base64url')}.${body.toString('base64url')}`;
}

/** The plain text of a sealed value; a plain (not yet sealed) value comes back as it is. */
export function openValue(keys: Keyring, value: string): string {
  const m = SEALED.exec(value);
  if (!m) return value;
  const [, id, iv64, body64] = m;
  const dk = keys.byId.get(id);
  if (!dk)
    throw new UnsealError(
      `a value is sealed with key '${id}', which HERALD_DATA_KEYS does not list (it lists ${keys.keys.map((k) => `'${k.id}'`).join(', ')}): ` +
        'add that key back (after the current first one) and run `npm run rekey` before removing it',
      id,
    );
  const body = Buffer.from(body64, 'base64url');
  if (body.length < TAG_BYTES) throw new UnsealError(`a value sealed with key '${id}' is truncated`, id);
  try {
    const decipher = createDecipheriv('aes-256-gcm', dk.key, Buffer.from(iv64, 'base64url'), { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(`${VERSION}.${id}`));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    throw new UnsealError(
      `a value sealed with key '${id}' failed authentication: it was altered, or the key listed as '${id}' is not the one that sealed it`,
      id,
    );
  }
}
