/**
 * The push address: one delivery's device tokens joined by ','. FCM tokens
 * stand as they are; Apple tokens carry APNS_PREFIX, which sends them to
 * APNs. Written by addressOf, read by the push provider; a raw token of a
 * direct send is therefore an FCM token unless it carries the prefix.
 */
export const APNS_PREFIX = 'apns:';

/** A push address split by platform, Apple tokens without their prefix. */
export function splitPushAddress(address: string): { fcm: string[]; apns: string[] } {
  const tokens = address.split(',').filter(Boolean);
  return {
    fcm: tokens.filter((t) => !t.startsWith(APNS_PREFIX)),
    apns: tokens.filter((t) => t.startsWith(APNS_PREFIX)).map((t) => t.slice(APNS_PREFIX.length)),
  };
}

/** The push address of FCM and Apple tokens; null when there are none. */
export function joinPushAddress(fcm: string[], apns: string[]): string | null {
  const tokens = [...fcm, ...apns.map((t) => APNS_PREFIX + t)];
  return tokens.length ? tokens.join(',') : null;
}
