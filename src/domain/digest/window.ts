import { z } from 'zod';

/**
 * What a digest is asked for: `digest: { key, window }` on a send. The
 * window is a whole number of seconds, minutes or hours ("30s", "10m",
 * "1h"), from 1 s to 24 h.
 */
export const DIGEST_WINDOW_MIN_MS = 1000;
export const DIGEST_WINDOW_MAX_MS = 24 * 3600_000;
export const DIGEST_KEY_MAX = 100;

const UNIT_MS = { s: 1000, m: 60_000, h: 3600_000 } as const;

/** "10m" → 600000; null for anything else, or outside 1 s – 24 h. */
export function windowMs(window: string): number | null {
  const m = /^([1-9]\d{0,5})(s|m|h)$/.exec(window);
  if (!m) return null;
  const ms = Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  return ms >= DIGEST_WINDOW_MIN_MS && ms <= DIGEST_WINDOW_MAX_MS ? ms : null;
}

export const digestSchema = z
  .strictObject({
    key: z.string().trim().min(1).max(DIGEST_KEY_MAX).describe("one user's deliveries on one channel with the same key share a message"),
    window: z
      .string()
      .refine((w) => windowMs(w) !== null, 'must be a duration from 1s to 24h, e.g. 30s, 10m, 1h')
      .meta({ pattern: '^[1-9][0-9]{0,5}(s|m|h)$' })
      .describe('how long after the first of them the message goes out: seconds, minutes or hours, 1s to 24h (e.g. 10m)'),
  })
  .describe(
    'Hold the external deliveries of this notification for each recipient and send them, with the others of the same key, ' +
      'as one message when the window (opened by the first of them) ends. The inbox and sockets get it at once; urgent priority is never held.',
  );

export type DigestRequest = z.infer<typeof digestSchema>;

/** A notification's digest as planning uses it. */
export interface DigestSpec {
  key: string;
  windowMs: number;
}

/**
 * The digest a stored notification asked for. It travels in its metadata
 * (`metadata.digest`), as other delivery settings do (webhook_url,
 * sms_template_code): stored with the notification, it is still there when a
 * scheduled one fires. Anything malformed there means no digest.
 */
export function digestOf(metadata: Record<string, unknown>): DigestSpec | null {
  const d = metadata.digest as Partial<DigestRequest> | undefined;
  if (!d || typeof d !== 'object' || typeof d.key !== 'string' || typeof d.window !== 'string') return null;
  const key = d.key.trim();
  const ms = windowMs(d.window);
  return key && key.length <= DIGEST_KEY_MAX && ms !== null ? { key, windowMs: ms } : null;
}
