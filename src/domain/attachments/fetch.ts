import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/** What fetching an attachment's url may do. */
export interface FetchOptions {
  /** bytes the body may have; the transfer is cut off past them */
  maxBytes: number;
  /** ms for the whole fetch, redirects and body included */
  timeoutMs: number;
  /** fetch from loopback, private and link-local addresses too (ATTACHMENT_ALLOW_PRIVATE) */
  allowPrivate: boolean;
}

/** Why a url gave no file; the message says it in words a sender can act on. */
export class FetchFailed extends Error {
  override name = 'FetchFailed';
}

/** Redirects followed before giving up. */
const MAX_REDIRECTS = 3;

/**
 * Addresses a sender must not make Herald read: its own host, the private
 * networks around it, link-local (cloud metadata services live there),
 * carrier-grade NAT, multicast and reserved ranges.
 */
const PRIVATE = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const)
  PRIVATE.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8]] as const) PRIVATE.addSubnet(net, bits, 'ipv6');

/** True for an address in one of the ranges above (an IPv4 address written as IPv6 is judged as IPv4). */
export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return PRIVATE.check(mapped[1], 'ipv4');
  const family = isIP(address);
  if (family === 4) return PRIVATE.check(address, 'ipv4');
  if (family === 6) return PRIVATE.check(address, 'ipv6');
  return true;
}

/**
 * A DNS lookup that refuses names resolving to a private address. The
 * check is made on the addresses the socket then connects to, so a name
 * that answers differently the second time (DNS rebinding) gains nothing.
 */
const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    const list = addresses as unknown as LookupAddress[];
    if (err) return callback(err, '', 4);
    const bad = list.find((a) => isPrivateAddress(a.address));
    if (bad || !list.length)
      return callback(Object.assign(new Error(`${hostname} resolves to a private address (${bad?.address ?? 'none'})`), { code: 'EPRIVATE' }), '', 4);
    if ((options as { all?: boolean }).all) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
    else callback(null, list[0].address, list[0].family);
  });
};

/**
 * Fetches an attachment's url: http(s) only, at most `maxBytes` (a longer
 * body is cut off while it streams, never held whole), within `timeoutMs`
 * for everything, following a few redirects, each checked like the first.
 * Returns the bytes and the type the server gave them.
 */
export async function fetchAttachment(url: string, opts: FetchOptions): Promise<{ content: Buffer; contentType: string | null }> {
  const signal = AbortSignal.timeout(opts.timeoutMs);
  let target = url;
  for (let hop = 0; ; hop++) {
    const res = await request(target, opts, signal);
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume();
      if (hop >= MAX_REDIRECTS) throw new FetchFailed(`more than ${MAX_REDIRECTS} redirects`);
      target = new URL(res.headers.location, target).toString();
      continue;
    }
    if (status < 200 || status >= 300) {
      res.resume();
      throw new FetchFailed(`the server answered HTTP ${status}`);
    }
    const content = await readCapped(res, opts.maxBytes, signal, opts.timeoutMs);
    const type = res.headers['content-type'];
    return { content, contentType: type && !/[\u0000-\u001f\u007f]/.test(type) ? type : null };
  }
}

function request(target: string, opts: FetchOptions, signal: AbortSignal): Promise<IncomingMessage> {
  const u = new URL(target);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return Promise.reject(new FetchFailed(`${u.protocol} urls are not fetched (http and https only)`));
  const host = u.hostname.replace(/^\[|\]$/g, '');
  // an address written in the url is not looked up, so it is checked here
  if (!opts.allowPrivate && isIP(host) && isPrivateAddress(host)) return Promise.reject(new FetchFailed(`${host} is a private address`));
  const get = u.protocol === 'https:' ? https.get : http.get;
  return new Promise((resolve, reject) => {
    const req = get(u, { signal, ...(opts.allowPrivate ? {} : { lookup: guardedLookup }), headers: { 'user-agent': 'Herald attachment fetcher' } }, resolve);
    req.on('error', (err) => reject(explain(err, signal, opts.timeoutMs)));
  });
}

function readCapped(res: IncomingMessage, maxBytes: number, signal: AbortSignal, timeoutMs: number): Promise<Buffer> {
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    res.destroy();
    return Promise.reject(new FetchFailed(`is ${declared} bytes; an attachment may have at most ${maxBytes}`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        // settled before the destroy, whose own 'aborted' would otherwise speak first
        reject(new FetchFailed(`is more than ${maxBytes} bytes, the most an attachment may have`));
        res.destroy();
        return;
      }
      chunks.push(chunk);
    });
    res.on('end', () => resolve(Buffer.concat(chunks)));
    res.on('error', (err) => reject(explain(err, signal, timeoutMs)));
    res.on('aborted', () => reject(explain(new Error('the transfer was cut off'), signal, timeoutMs)));
  });
}

function explain(err: Error & { code?: string }, signal: AbortSignal, timeoutMs: number): FetchFailed {
  if (signal.aborted) return new FetchFailed(`no complete answer within ${timeoutMs} ms`);
  if (err.code === 'EPRIVATE') return new FetchFailed(err.message);
  return new FetchFailed(err.code ? `${err.code}: ${err.message}` : err.message);
}
