import { createPrivateKey, randomUUID, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import type { Config } from '../../config.js';
import { classifyUnknown, permanent, retryable, throttled, type ChannelProvider, type DeliveryError, type OutgoingMessage, type SendResult } from '../types.js';
import { bodyOf, richOf } from '../rich.js';
import { anyDelivered } from './outcomes.js';

type ApnsConfig = Pick<Config, 'APNS_KEY_ID' | 'APNS_TEAM_ID' | 'APNS_TOPIC' | 'APNS_PRIVATE_KEY' | 'APNS_PRIVATE_KEY_FILE' | 'APNS_API_BASE'>;

export interface ApnsOptions {
  /** the clock provider tokens are dated and aged by, in ms (default Date.now) */
  now?: () => number;
}

/**
 * A provider token is reused until it is this old (ms). Apple refuses tokens
 * older than an hour (ExpiredProviderToken) and new tokens more often than
 * every 20 minutes (429 TooManyProviderTokenUpdates): 50 minutes stays clear
 * of both, with ten minutes for clock drift.
 */
export const APNS_TOKEN_REFRESH_MS = 50 * 60_000;

/**
 * How long APNs keeps a notification for a device that is off (apns-expiration),
 * counted from when the notification was accepted. 0 would make APNs try once
 * and drop it, losing it for every phone that is asleep or offline at that
 * moment; no header at all lets APNs keep it as long as it likes, so a
 * message about an order may surface days later. A day covers a phone
 * that is off overnight.
 */
export const APNS_EXPIRATION_S = 24 * 3600;

/** Apple's limit on the JSON payload of an alert notification, in bytes. */
export const APNS_PAYLOAD_MAX = 4096;

/**
 * aps.category of a notification with buttons: the app registers a
 * notification category under this identifier, and its content extension
 * takes the labels and links from the payload's `actions`.
 */
export const APNS_ACTIONS_CATEGORY = 'HERALD_ACTIONS';

/** apns-collapse-id may be at most this many bytes. */
const COLLAPSE_ID_MAX = 64;

/** Reasons that mean the device token will never work again: it goes in `rejected` and leaves the recipient. */
const DEAD_TOKEN = new Set(['Unregistered', 'BadDeviceToken', 'DeviceTokenNotForTopic', 'ExpiredToken']);
/** Reasons that blame the provider token: a fresh one is signed and the send tried once more. */
const PROVIDER_TOKEN = new Set(['ExpiredProviderToken', 'InvalidProviderToken']);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const b64url = (s: string | Buffer) => Buffer.from(s).toString('base64url');

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  reason: string | undefined;
}

/** Retry-After in seconds or as an HTTP date, as ms; undefined when absent or unreadable. */
function retryAfter(headers: IncomingHttpHeaders): number | undefined {
  const v = headers['retry-after'];
  if (typeof v !== 'string') return undefined;
  const s = Number(v);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** The .p8 key: APNS_PRIVATE_KEY first, else the file APNS_PRIVATE_KEY_FILE names. */
function keyPem(cfg: ApnsConfig): string | undefined {
  if (cfg.APNS_PRIVATE_KEY) return cfg.APNS_PRIVATE_KEY.replace(/\\n/g, '\n');
  if (cfg.APNS_PRIVATE_KEY_FILE) return readFileSync(cfg.APNS_PRIVATE_KEY_FILE, 'utf8');
  return undefined;
}

/** Cuts `s` to at most `bytes` UTF-8 bytes, on a character boundary, marking the cut with an ellipsis. */
function clip(s: string, bytes: number): string {
  if (Buffer.byteLength(s) <= bytes) return s;
  let out = '';
  let used = Buffer.byteLength('…');
  for (const ch of s) {
    used += Buffer.byteLength(ch);
    if (used > bytes) break;
    out += ch;
  }
  return `${out}…`;
}

/**
 * Apple Push Notification service over HTTP/2 with token authentication: an
 * ES256 JWT signed with the team's .p8 key, reused for 50 minutes, on one
 * HTTP/2 session to the origin that every send of the process shares (Apple
 * asks providers to keep their connections open). A session that receives
 * GOAWAY or closes is replaced at the next send. apns-id is the delivery
 * id and apns-collapse-id the notification's group_key (else the delivery
 * id), so a send repeated after a crash is the same notification for Apple
 * and replaces, not duplicates, the first one on the device.
 */
export class ApnsProvider implements ChannelProvider {
  readonly channel = 'push' as const;
  readonly vendor = 'apns';
  readonly missing: string[];
  private readonly pem: string | undefined;
  private readonly now: () => number;
  private key?: KeyObject;
  private jwt?: { value: string; issuedAt: number };
  private session?: ClientHttp2Session;

  constructor(
    private readonly cfg: ApnsConfig,
    opts: ApnsOptions = {},
  ) {
    this.pem = keyPem(cfg);
    this.now = opts.now ?? Date.now;
    this.missing = [
      ...(cfg.APNS_KEY_ID ? [] : ['APNS_KEY_ID']),
      ...(cfg.APNS_TEAM_ID ? [] : ['APNS_TEAM_ID']),
      ...(cfg.APNS_TOPIC ? [] : ['APNS_TOPIC']),
      ...(this.pem ? [] : ['APNS_PRIVATE_KEY']),
    ];
  }

  /** The provider token: the cached one while it is younger than APNS_TOKEN_REFRESH_MS, else a new one. */
  private providerToken(): string {
    const now = this.now();
    if (this.jwt && now - this.jwt.issuedAt < APNS_TOKEN_REFRESH_MS) return this.jwt.value;
    try {
      this.key ??= createPrivateKey(this.pem!);
    } catch (err) {
      throw permanent('invalid_key', `APNS_PRIVATE_KEY is not a PEM private key: ${(err as Error).message}`);
    }
    const signed = `${b64url(JSON.stringify({ alg: 'ES256', kid: this.cfg.APNS_KEY_ID }))}.${b64url(
      JSON.stringify({ iss: this.cfg.APNS_TEAM_ID, iat: Math.floor(now / 1000) }),
    )}`;
    // JWS wants the raw r||s signature, not the DER that node:crypto writes by default
    const signature = sign('sha256', Buffer.from(signed), { key: this.key, dsaEncoding: 'ieee-p1363' });
    this.jwt = { value: `${signed}.${b64url(signature)}`, issuedAt: now };
    return this.jwt.value;
  }

  /** Forgets a provider token Apple refused, unless a concurrent send already replaced it. */
  private forget(token: string): void {
    if (this.jwt?.value === token) this.jwt = undefined;
  }

  /** The shared HTTP/2 session, opened on first use and again after GOAWAY or a close. */
  private connection(): ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const session = connect(this.cfg.APNS_API_BASE);
    const drop = () => {
      if (this.session === session) this.session = undefined;
    };
    // a failed connection errors its streams too, where each send sees it; here it only retires the session
    session.on('error', drop);
    session.on('goaway', drop);
    session.on('close', drop);
    this.session = session;
    return session;
  }

  /** One request on the session: the status, headers and Apple's `reason`. */
  private exchange(headers: Record<string, string>, body: string, signal: AbortSignal): Promise<Reply> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      let stream;
      try {
        stream = this.connection().request({ ':method': 'POST', ...headers }, { signal });
      } catch (err) {
        return reject(err);
      }
      let status = 0;
      let responseHeaders: IncomingHttpHeaders = {};
      let text = '';
      stream.setEncoding('utf8');
      stream.on('response', (h) => {
        status = Number(h[':status']);
        responseHeaders = h;
      });
      stream.on('data', (chunk: string) => (text += chunk));
      stream.on('end', () => {
        // the connection went away before an answer: Apple may or may not have the notification
        if (!status) return reject(retryable('no_response', 'APNs closed the stream without an answer'));
        let reason: string | undefined;
        try {
          reason = text ? (JSON.parse(text) as { reason?: string }).reason : undefined;
        } catch {
          reason = undefined;
        }
        resolve({ status, headers: responseHeaders, reason });
      });
      stream.on('error', reject);
      // a stream reset without an error code closes with neither answer nor error; after 'end' or 'error' this changes nothing
      stream.on('close', () => reject(retryable('no_response', 'APNs closed the stream without an answer')));
      stream.end(body);
    });
  }

  private headersFor(m: OutgoingMessage, device: string, jwt: string): Record<string, string> {
    const urgent = m.priority === 'urgent' || m.priority === 'high';
    const accepted = Date.parse(m.created_at);
    const expires = Math.floor((Number.isNaN(accepted) ? this.now() : accepted) / 1000) + APNS_EXPIRATION_S;
    const headers: Record<string, string> = {
      ':path': `/3/device/${encodeURIComponent(device)}`,
      authorization: `bearer ${jwt}`,
      'apns-topic': this.cfg.APNS_TOPIC!,
      'apns-push-type': 'alert',
      'apns-priority': urgent ? '10' : '5',
      // a delivery held past its day (do-not-disturb, mute) is still tried once rather than dropped
      'apns-expiration': String(expires > this.now() / 1000 ? expires : 0),
      'content-type': 'application/json',
    };
    if (UUID.test(m.deliveryId)) headers['apns-id'] = m.deliveryId.toLowerCase();
    // the notification's group as collapse id (the device shows the group's newest in place of the one before),
    // else the delivery id: either way a send repeated after a crash replaces the first on the device
    const collapse = [m.group_key, m.deliveryId].find((k) => k && Buffer.byteLength(k) <= COLLAPSE_ID_MAX);
    if (collapse) headers['apns-collapse-id'] = collapse;
    return headers;
  }

  /**
   * The JSON payload, its body shortened when everything together would
   * pass Apple's 4 KiB. The link, picture and buttons are custom keys
   * (`url`, `image_url`, `actions`) beside `aps`: a picture sets
   * mutable-content so the app's notification service extension can fetch
   * and attach it, and buttons set aps.category (APNS_ACTIONS_CATEGORY),
   * the category the app registers to show them. When the buttons and
   * picture alone would pass the limit they are left out, and `note` says so.
   */
  payloadOf(m: OutgoingMessage): { payload: string; note: string | null } {
    const text = bodyOf(m, 'push');
    const rich = richOf(m);
    const build = (body: string, extras: boolean) =>
      JSON.stringify({
        aps: {
          alert: { title: text.title, body },
          sound: 'default',
          ...(extras && rich.image_url ? { 'mutable-content': 1 } : {}),
          ...(extras && rich.actions.length ? { category: APNS_ACTIONS_CATEGORY } : {}),
        },
        notification_id: m.notificationId,
        delivery_id: m.deliveryId,
        ...(rich.url ? { url: rich.url } : {}),
        ...(extras && rich.image_url ? { image_url: rich.image_url } : {}),
        ...(extras && rich.actions.length ? { actions: rich.actions } : {}),
      });
    const fits = (extras: boolean): string | null => {
      const whole = build(text.content, extras);
      const over = Buffer.byteLength(whole) - APNS_PAYLOAD_MAX;
      if (over <= 0) return whole;
      // JSON escaping may make the body longer on the wire than in UTF-8: cut until it fits
      for (let budget = Buffer.byteLength(text.content) - over; budget > 0; budget -= 64) {
        const cut = build(clip(text.content, budget), extras);
        if (Buffer.byteLength(cut) <= APNS_PAYLOAD_MAX) return cut;
      }
      const least = build('…', extras);
      return Buffer.byteLength(least) <= APNS_PAYLOAD_MAX ? least : null;
    };
    const withExtras = rich.image_url || rich.actions.length ? fits(true) : null;
    if (withExtras) return { payload: withExtras, note: null };
    const plain = fits(false) ?? build('…', false);
    const note = rich.image_url || rich.actions.length ? 'image and buttons not shown: with them the APNs payload passes 4 KiB' : null;
    return { payload: plain, note };
  }

  private async sendOne(m: OutgoingMessage, device: string, signal: AbortSignal): Promise<SendResult> {
    const { payload: body, note } = this.payloadOf(m);
    for (let round = 0; ; round++) {
      const jwt = this.providerToken();
      let reply: Reply;
      try {
        reply = await this.exchange(this.headersFor(m, device, jwt), body, signal);
      } catch (err) {
        throw classifyUnknown(err);
      }
      const { status, reason = `http_${status}` } = reply;
      if (status === 200) {
        const id = reply.headers['apns-id'];
        return { providerMessageId: typeof id === 'string' ? id : null, note };
      }
      if (status === 403 && PROVIDER_TOKEN.has(reason)) {
        this.forget(jwt);
        if (round === 0) continue;
        throw retryable(reason, `APNs refused a freshly signed provider token too (${reason}): check APNS_KEY_ID, APNS_TEAM_ID and the clock`);
      }
      throw this.failure(status, reason, device, reply.headers);
    }
  }

  /** Apple's status and reason as a DeliveryError. */
  private failure(status: number, reason: string, device: string, headers: IncomingHttpHeaders): DeliveryError {
    if (status === 410 || DEAD_TOKEN.has(reason))
      return permanent(reason, `APNs rejected the device token: ${reason}`, { rejected: [device], reason: 'invalid_address' });
    if (status === 429) return throttled(reason, `APNs: ${reason}`, retryAfter(headers) ?? 1000);
    if (status === 503) {
      const after = retryAfter(headers);
      // with Retry-After Apple says when: wait that long through the rate limiter, not an attempt's backoff
      return after === undefined ? retryable(reason, `APNs unavailable: ${reason}`) : throttled(reason, `APNs unavailable: ${reason}`, after);
    }
    if (status >= 500) return retryable(reason, `APNs error ${status}: ${reason}`);
    return permanent(reason, `APNs refused the notification (${status}): ${reason}`);
  }

  /** The address is the recipient's Apple device tokens, comma-separated; delivered when any device took it. */
  send(m: OutgoingMessage, signal: AbortSignal): Promise<SendResult> {
    const devices = m.address.split(',').filter(Boolean);
    return anyDelivered(devices.map((d) => this.sendOne(m, d, signal)));
  }

  /**
   * APNs has no token endpoint: the provider token is checked by a request.
   * This one goes to a device token no device has (64 zeros) with the real
   * topic and headers, so Apple checks the provider token (403
   * InvalidProviderToken when the key, key id or team id is wrong) and the
   * topic, then answers 400 BadDeviceToken: nothing reaches any device.
   */
  async verify(signal: AbortSignal): Promise<string> {
    const probe: OutgoingMessage = {
      title: 'Herald credential check',
      content: 'not delivered',
      type: 'info',
      priority: 'normal',
      metadata: {},
      created_at: new Date(this.now()).toISOString(),
      deliveryId: randomUUID(),
      notificationId: randomUUID(),
      tenant: 'verify',
      address: '',
    };
    const device = '0'.repeat(64);
    const jwt = this.providerToken();
    let reply: Reply;
    try {
      reply = await this.exchange(this.headersFor(probe, device, jwt), this.payloadOf(probe).payload, signal);
    } catch (err) {
      throw classifyUnknown(err);
    }
    if (reply.status === 400 && reply.reason === 'BadDeviceToken')
      return `APNs accepted the provider token (key ${this.cfg.APNS_KEY_ID}, team ${this.cfg.APNS_TEAM_ID}) and topic ${this.cfg.APNS_TOPIC}, and refused the probe device as it should`;
    if (PROVIDER_TOKEN.has(reply.reason ?? '')) this.forget(jwt);
    const reason = reply.reason ?? `http_${reply.status}`;
    throw permanent(reason, `APNs answered ${reply.status} ${reason} to the credential check`);
  }

  classify(err: unknown): DeliveryError {
    return classifyUnknown(err);
  }

  async close(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    if (!session || session.destroyed) return;
    await new Promise<void>((resolve) => {
      // close lets in-flight streams finish; a peer that never answers must not hold shutdown
      const timer = setTimeout(() => session.destroy(), 2000);
      session.close(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
