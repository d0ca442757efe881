import { randomBytes } from 'node:crypto';

// Random bytes drawn 4 KiB at a time: one getrandom call per 256 ids instead of one per id.
const POOL = 4096;
let pool = Buffer.alloc(0);
let offset = POOL;
function random16(): Buffer {
  if (offset + 16 > pool.length) {
    pool = randomBytes(POOL);
    offset = 0;
  }
  const out = Buffer.from(pool.subarray(offset, offset + 16));
  offset += 16;
  return out;
}

/**
 * UUIDv7 (RFC 9562): time-ordered, so ids made together sit together in the
 * primary-key index instead of scattering writes across it.
 */
export function newId(now = Date.now()): string {
  const b = random16();
  b.writeUIntBE(now, 0, 6);
  b[6] = (b[6] & 0x0f) | 0x70;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The smallest UUIDv7 of a millisecond: every id newId minted before `at` sorts below it. */
export function uuidv7Floor(at: Date): string {
  const h = Math.max(0, at.getTime()).toString(16).padStart(12, '0');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-0000-0000-000000000000`;
}

/** The ms time a UUIDv7 was minted at (its first 48 bits). */
export const uuidv7Time = (id: string): number => parseInt(id.replace(/-/g, '').slice(0, 12), 16);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string): boolean => UUID.test(s);
