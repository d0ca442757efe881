/**
 * The keys that seal contact data at rest (HERALD_DATA_KEYS): a
 * comma-separated list of `kid:base64key`, each key 32 bytes (AES-256).
 * The first seals new values; every key listed opens values sealed with it,
 * so a key being rotated out stays listed until `npm run rekey` has moved
 * every value to the new one.
 */

/** One key of the list, with the id that sealed values carry. */
export interface DataKey {
  id: string;
  key: Buffer;
}

export interface Keyring {
  /** seals every new value: the first key of the list */
  primary: DataKey;
  /** every key, in the order given */
  keys: DataKey[];
  byId: Map<string, DataKey>;
}

/** A key id goes between dots in a sealed value: letters, digits, `_` and `-` only. */
export const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]+={0,2}|[A-Za-z0-9_-]+)$/;

/** HERALD_DATA_KEYS could not be read; the message says which entry and why, never the key itself. */
export class DataKeyFormatError extends Error {
  override name = 'DataKeyFormatError';
}

export function parseDataKeys(text: string): Keyring {
  const entries = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!entries.length) throw new DataKeyFormatError('lists no key: give `kid:base64key`, e.g. `k2026:` followed by the output of `openssl rand -base64 32`');
  const keys: DataKey[] = [];
  const byId = new Map<string, DataKey>();
  for (const [i, entry] of entries.entries()) {
    const at = entry.indexOf(':');
    const id = at < 0 ? '' : entry.slice(0, at);
    const b64 = at < 0 ? '' : entry.slice(at + 1);
    const which = `entry ${i + 1}`;
    if (!id || !b64) throw new DataKeyFormatError(`${which} is not \`kid:base64key\``);
    if (!KEY_ID.test(id)) throw new DataKeyFormatError(`${which}: the key id '${id}' may hold only letters, digits, _ and - (at most 32)`);
    if (byId.has(id)) throw new DataKeyFormatError(`${which}: the key id '${id}' is listed twice`);
    const key = BASE64.test(b64) ? Buffer.from(b64, b64.includes('-') || b64.includes('_') ? 'base64url' : 'base64') : Buffer.alloc(0);
    if (key.length !== 32) throw new DataKeyFormatError(`${which} ('${id}'): the key must be 32 bytes in base64 (\`openssl rand -base64 32\`)`);
    const dk = { id, key };
    keys.push(dk);
    byId.set(id, dk);
  }
  return { primary: keys[0], keys, byId };
}
