import { APNS_PREFIX } from '../../channels/push/address.js';

/**
 * Addresses as Herald shows them outside the delivery itself: in API
 * listings of deliveries, in admin alerts and in anything logged or
 * recorded about a failure. Enough is left to tell addresses apart
 * (l***@example.com, +86*******8000, https://hooks.example.com/***), never
 * the whole address.
 */

const EMAIL = /^([^\s@]+)@([^\s@]+)$/;
const PHONE = /^\+?[0-9][0-9 ()-]{5,22}$/;
const URL_RE = /^(https?:\/\/[^/?#\s]+)/i;

function maskOne(value: string): string {
  if (value.startsWith(APNS_PREFIX)) return APNS_PREFIX + maskOne(value.slice(APNS_PREFIX.length));
  const email = EMAIL.exec(value);
  if (email) return `${email[1].slice(0, 1)}***@${email[2]}`;
  if (PHONE.test(value)) {
    const digits = value.replace(/\D/g, '');
    return `${value.startsWith('+') ? '+' : ''}${digits.slice(0, 2)}${'*'.repeat(Math.max(3, digits.length - 6))}${digits.slice(-4)}`;
  }
  const url = URL_RE.exec(value);
  if (url) return `${url[1]}/***`;
  // a channel user id or a device token
  return value.length > 8 ? `${value.slice(0, 4)}***` : '***';
}

/** An address (a push address: each of its tokens) with most of it hidden. */
export function maskAddress(address: string): string {
  return address.split(',').map(maskOne).join(',');
}

/**
 * `text` with every occurrence of the address replaced by its mask: a
 * provider's error may quote the address it refused (an SMTP server's
 * `550 <li.lei@example.com>: Recipient address rejected`), and that text is
 * logged and recorded on the delivery. A phone number is also looked for as
 * its digits alone, the form SMS providers echo.
 */
export function withoutAddress(text: string, address: string | null | undefined): string {
  if (!address || !text) return text;
  const parts = new Map<string, string>();
  for (const raw of address.split(',')) {
    const token = raw.startsWith(APNS_PREFIX) ? raw.slice(APNS_PREFIX.length) : raw;
    if (token.length < 3) continue;
    parts.set(token, maskOne(token));
    if (PHONE.test(token)) {
      const digits = token.replace(/\D/g, '');
      parts.set(digits, maskOne(token));
      // +86 numbers are sent without the country code by some providers
      if (digits.startsWith('86') && digits.length === 13) parts.set(digits.slice(2), maskOne(token));
    }
  }
  let out = text;
  for (const [part, masked] of [...parts].sort((a, b) => b[0].length - a[0].length)) {
    out = out.replace(new RegExp(part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gi'), masked);
  }
  return out;
}
