import type { Config } from '../../config.js';

/** How many files one send may carry. */
export const ATTACHMENTS_MAX = 10;

/** Caps on attachments, from ATTACHMENT_MAX_BYTES and ATTACHMENTS_MAX_TOTAL_BYTES. */
export interface AttachmentLimits {
  /** bytes one file may have */
  maxBytes: number;
  /** bytes of one send's inline files together */
  maxTotalBytes: number;
}

export const attachmentLimits = (config: Pick<Config, 'ATTACHMENT_MAX_BYTES' | 'ATTACHMENTS_MAX_TOTAL_BYTES'>): AttachmentLimits => ({
  maxBytes: config.ATTACHMENT_MAX_BYTES,
  maxTotalBytes: config.ATTACHMENTS_MAX_TOTAL_BYTES,
});

/** Characters base64 takes for `bytes` bytes (with padding): what a body must be allowed to grow by to carry them. */
export const base64Length = (bytes: number) => Math.ceil(bytes / 3) * 4;

/** The bytes a well-formed base64 text decodes to, counted without decoding it. */
export function decodedLength(base64: string): number {
  const padding = base64.endsWith('==') ? 2 : base64.endsWith('=') ? 1 : 0;
  return (base64.length / 4) * 3 - padding;
}

const B64 = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') B64[c.charCodeAt(0)] = 1;

/**
 * Standard base64 (RFC 4648 §4) with its padding, no line breaks. A loop,
 * not a regex: the text may be tens of megabytes, which a backtracking
 * regex engine is not built for.
 */
export function isBase64(s: string): boolean {
  if (s.length % 4 !== 0) return false;
  const end = s.endsWith('==') ? s.length - 2 : s.endsWith('=') ? s.length - 1 : s.length;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || !B64[c]) return false;
  }
  return true;
}

/**
 * The name a recipient's mail client will save the file under: the last
 * path segment only (a sender cannot suggest `../../x` or `C:\x`), with no
 * control characters (they would break the MIME header), none of the
 * characters file systems refuse, and no leading dots (hidden files, `..`).
 * Empty when nothing usable is left.
 */
export function sanitizeFilename(name: string): string {
  const last = name.split(/[\\/]/).pop() ?? '';
  return last
    .replace(/[\u0000-\u001f\u007f"*:<>?|]/g, '')
    .replace(/^[.\s]+/, '')
    .replace(/\s+$/, '')
    .slice(0, 200);
}
