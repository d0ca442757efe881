import { DeliveryError, classifyUnknown, permanent, type SendResult } from '../types.js';

/**
 * One delivery made of several sends (one per device token, or one per
 * platform): delivered when any of them went out. The tokens every part
 * rejected for good are kept either way, so they are removed from the
 * recipient; when nothing went out, the failure is the most hopeful one (a
 * retry may still reach a device), permanent only when every part was.
 */
export async function anyDelivered(parts: Array<Promise<SendResult>>): Promise<SendResult> {
  const results = await Promise.allSettled(parts);
  const sent = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const errors = results.flatMap((r) => (r.status === 'rejected' ? [classifyUnknown(r.reason)] : []));
  const rejected = [...sent.flatMap((s) => s.rejected ?? []), ...errors.flatMap((e) => e.opts.rejected ?? [])];
  // what the parts that went out left out of the message, each said once
  const notes = [...new Set(sent.flatMap((s) => (s.note ? [s.note] : [])))];
  if (sent.length) return { providerMessageId: sent[0].providerMessageId, rejected, note: notes.length ? notes.join('; ') : null };
  const worst = errors.find((e) => e.kind !== 'permanent') ?? errors[0];
  if (!worst) throw permanent('no_address', 'no device token to send to', { reason: 'no_address' });
  throw new DeliveryError(worst.kind, worst.code, worst.message, { ...worst.opts, rejected });
}
