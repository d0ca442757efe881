import { readFileSync } from 'node:fs';
import { SignJWT, importPKCS8 } from 'jose';
import type { Config } from '../../config.js';
import { TokenCache, requestJson } from '../http.js';
import { bodyOf, noteOf, richOf } from '../rich.js';
import { classifyUnknown, permanent, retryable, type ChannelProvider, type DeliveryError, type OutgoingMessage, type SendResult } from '../types.js';

type FcmConfig = Pick<
  Config,
  'FCM_PROJECT_ID' | 'FCM_CLIENT_EMAIL' | 'FCM_PRIVATE_KEY' | 'GOOGLE_APPLICATION_CREDENTIALS' | 'FCM_API_BASE' | 'FCM_TOKEN_URL' | 'PROVIDER_TIMEOUT_MS'
>;

interface ServiceAccount {
  projectId?: string;
  clientEmail?: string;
  privateKey?: string;
}

interface FcmErrorReply {
  error?: { code?: number; message?: string; status?: string; details?: Array<{ '@type'?: string; errorCode?: string }> };
  name?: string;
}

export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';

/** FCM_* variables first, else the service-account JSON file GOOGLE_APPLICATION_CREDENTIALS names. */
function serviceAccount(cfg: FcmConfig): ServiceAccount {
  const fromEnv = { projectId: cfg.FCM_PROJECT_ID, clientEmail: cfg.FCM_CLIENT_EMAIL, privateKey: cfg.FCM_PRIVATE_KEY?.replace(/\\n/g, '\n') };
  if (fromEnv.projectId && fromEnv.clientEmail && fromEnv.privateKey) return fromEnv;
  if (cfg.GOOGLE_APPLICATION_CREDENTIALS) {
    const file = JSON.parse(readFileSync(cfg.GOOGLE_APPLICATION_CREDENTIALS, 'utf8')) as { project_id?: string; client_email?: string; private_key?: string };
    return {
      projectId: fromEnv.projectId ?? file.project_id,
      clientEmail: fromEnv.clientEmail ?? file.client_email,
      privateKey: fromEnv.privateKey ?? file.private_key,
    };
  }
  return fromEnv;
}

/** Token errors that mean this device token will never work again: remove it from the recipient. */
const DEAD_TOKEN = new Set(['UNREGISTERED', 'SENDER_ID_MISMATCH']);

/**
 * Firebase Cloud Messaging HTTP v1: a service-account JWT (RS256) is
 * exchanged for an OAuth access token (cached until it expires), then one
 * messages:send per device token of the recipient. UNREGISTERED and invalid
 * tokens are permanent and reported so the token is removed.
 */
export class FcmProvider implements ChannelProvider {
  readonly channel = 'push' as const;
  readonly vendor = 'fcm';
  readonly missing: string[];
  private readonly account: ServiceAccount;
  private readonly tokens: TokenCache;

  constructor(private readonly cfg: FcmConfig) {
    this.account = serviceAccount(cfg);
    this.missing = [
      ...(this.account.projectId ? [] : ['FCM_PROJECT_ID']),
      ...(this.account.clientEmail ? [] : ['FCM_CLIENT_EMAIL']),
      ...(this.account.privateKey ? [] : ['FCM_PRIVATE_KEY']),
    ];
    this.tokens = new TokenCache(() => this.fetchToken());
  }

  private async fetchToken(): Promise<{ value: string; expiresInS: number }> {
    const key = await importPKCS8(this.account.privateKey!, 'RS256');
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({ scope: FCM_SCOPE })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
      .setIssuer(this.account.clientEmail!)
      .setAudience(this.cfg.FCM_TOKEN_URL)
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(key);
    const { status, body } = await requestJson<{ access_token?: string; expires_in?: number; error?: string; error_description?: string }>(
      this.cfg.FCM_TOKEN_URL,
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }).toString(),
        signal: AbortSignal.timeout(this.cfg.PROVIDER_TIMEOUT_MS),
      },
    );
    if (status !== 200 || !body?.access_token) throw permanent(body?.error ?? `http_${status}`, `OAuth token: ${body?.error_description ?? status}`);
    return { value: body.access_token, expiresInS: body.expires_in ?? 3600 };
  }

  /**
   * One device's message. The picture is notification.image (Android and
   * web show it; iOS shows it through the app's notification service
   * extension, hence mutable-content and apns.fcm_options.image); the link
   * is data.url for the apps and webpush.fcm_options.link for browsers
   * (which FCM takes only over https); the buttons go in data.actions as
   * JSON, for the app to show: a system notification has none of its own.
   */
  messageFor(m: OutgoingMessage, token: string) {
    const text = bodyOf(m, 'push');
    const rich = richOf(m);
    const urgent = m.priority === 'urgent' || m.priority === 'high';
    const data: Record<string, string> = { notification_id: m.notificationId, delivery_id: m.deliveryId, type: m.type, priority: m.priority };
    if (rich.url) data.url = rich.url;
    if (rich.image_url) data.image_url = rich.image_url;
    if (rich.actions.length) data.actions = JSON.stringify(rich.actions);
    const webLink = rich.url && /^https:/i.test(rich.url) ? rich.url : null;
    return {
      message: {
        token,
        notification: { title: text.title, body: text.content, ...(rich.image_url ? { image: rich.image_url } : {}) },
        // data values must be strings
        data,
        android: { priority: urgent ? 'high' : 'normal' },
        apns: {
          headers: { 'apns-priority': urgent ? '10' : '5' },
          ...(rich.image_url ? { payload: { aps: { 'mutable-content': 1 } }, fcm_options: { image: rich.image_url } } : {}),
        },
        ...(webLink ? { webpush: { fcm_options: { link: webLink } } } : {}),
      },
    };
  }

  /** What a system notification sent through FCM leaves out of the message. */
  private noteFor(m: OutgoingMessage): string | null {
    const rich = richOf(m);
    const notes: string[] = [];
    if (rich.actions.length) notes.push('buttons not shown by the system notification: sent in data.actions for the app');
    if (rich.url && !/^https:/i.test(rich.url)) notes.push('link not opened by browsers: webpush needs https (sent in data.url)');
    return noteOf(notes);
  }

  private async sendOne(m: OutgoingMessage, device: string, signal: AbortSignal): Promise<string> {
    const url = `${this.cfg.FCM_API_BASE.replace(/\/$/, '')}/v1/projects/${encodeURIComponent(this.account.projectId!)}/messages:send`;
    const body = JSON.stringify(this.messageFor(m, device));
    for (let round = 0; ; round++) {
      const token = await this.tokens.get();
      const reply = await requestJson<FcmErrorReply>(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body,
        signal,
      });
      if (reply.status === 200 && reply.body?.name) return reply.body.name;
      if (reply.status === 401 && round === 0) {
        this.tokens.invalidate(token);
        continue;
      }
      const err = reply.body?.error;
      const fcmCode = err?.details?.find((d) => d['@type']?.endsWith('FcmError'))?.errorCode ?? err?.status ?? `http_${reply.status}`;
      if (DEAD_TOKEN.has(fcmCode) || (fcmCode === 'INVALID_ARGUMENT' && /token/i.test(err?.message ?? '')))
        throw permanent(fcmCode, err?.message ?? fcmCode, { rejected: [device], reason: 'invalid_address' });
      if (fcmCode === 'UNAVAILABLE' || fcmCode === 'INTERNAL') throw retryable(fcmCode, err?.message ?? fcmCode);
      throw permanent(fcmCode, err?.message ?? `HTTP ${reply.status}`);
    }
  }

  /** The address is the recipient's device tokens, comma-separated; delivered when any device took it. */
  async send(m: OutgoingMessage, signal: AbortSignal): Promise<SendResult> {
    const devices = m.address.split(',').filter(Boolean);
    const results = await Promise.allSettled(devices.map((d) => this.sendOne(m, d, signal)));
    const names = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const errors = results.flatMap((r) => (r.status === 'rejected' ? [classifyUnknown(r.reason)] : []));
    const rejected = errors.flatMap((e) => e.opts.rejected ?? []);
    if (names.length) return { providerMessageId: names[0], rejected, note: this.noteFor(m) };
    const worst = errors.find((e) => e.kind !== 'permanent') ?? errors[0];
    if (worst.kind === 'permanent') throw permanent(worst.code, worst.message, { rejected, reason: worst.opts.reason });
    throw worst;
  }

  /** Exchanges the service account's signed JWT for an OAuth access token (PROVIDER_TIMEOUT_MS bounds it); sends nothing. */
  async verify(): Promise<string> {
    const { expiresInS } = await this.fetchToken();
    return `the OAuth token endpoint answered an access token for ${this.account.clientEmail} valid for ${expiresInS} s (project ${this.account.projectId} is checked by a send)`;
  }

  classify(err: unknown): DeliveryError {
    return classifyUnknown(err);
  }
}
