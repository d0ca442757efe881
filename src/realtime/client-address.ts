/**
 * The key a client's address is limited by: an IPv4 address as dotted
 * text, an IPv6 one by its /64 network (one host usually has a whole /64,
 * so a per-address limit on IPv6 would be no limit at all).
 *
 * `raw` is uWS's res.getRemoteAddress(): 4 or 16 bytes, an IPv4 client of a
 * dual-stack socket as an IPv4-mapped IPv6 address (::ffff:a.b.c.d). The
 * socket's own peer is used, never X-Forwarded-For: a header any client can
 * write would let it pick its own key. Behind a proxy every client has the
 * proxy's address, so WS_UPGRADE_IP_PER_MIN should then be 0 (or the proxy
 * should do this limit itself).
 */
export function addressKey(raw: ArrayBuffer): string {
  const b = new Uint8Array(raw);
  if (b.length === 4) return b.join('.');
  if (b.length !== 16) return 'unknown';
  const mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  if (mapped) return b.subarray(12).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 8; i += 2) groups.push(((b[i] << 8) | b[i + 1]).toString(16));
  return `${groups.join(':')}::/64`;
}
