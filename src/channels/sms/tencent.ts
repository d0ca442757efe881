import type { Config } from '../../config.js';
import { requestJson } from '../http.js';
import { classifyUnknown, permanent, retryable, throttled, type ChannelProvider, type DeliveryError, type OutgoingMessage, type SendResult } from '../types.js';
import { tc3Sign } from './tc3-signature.js';

type TencentConfig = Pick<
  Config,
  | 'TENCENT_SECRET_ID'
  | 'TENCENT_SECRET_KEY'
  | 'TENCENT_SMS_SDK_APP_ID'
  | 'TENCENT_SMS_SIGN'
  | 'TENCENT_SMS_TEMPLATE_ID'
  | 'TENCENT_SMS_REGION'
  | 'TENCENT_SMS_ENDPOINT'
>;

/** One number's outcome in SendSms's SendStatusSet. */
interface SendStatus {
  SerialNo?: string;
  PhoneNumber?: string;
  Fee?: number;
  SessionContext?: string;
  Code?: string;
  Message?: string;
  IsoCode?: string;
}

/** One delivery receipt of PullSmsSendStatusByPhoneNumber. */
interface ReceiptStatus {
  SerialNo?: string;
  PhoneNumber?: string;
  ReportStatus?: string;
  SessionContext?: string | null;
}

type ApiReply<T> = { Response?: Partial<T> & { Error?: { Code?: string; Message?: string }; RequestId?: string } };

const VERSION = '2021-01-11';
const SERVICE = 'sms';
const CONTENT_TYPE = 'application/json; charset=utf-8';

/**
 * Tencent's own failures and per-number limits that clear within the SMS
 * retry window (four attempts, about a minute): try again after backoff.
 * Longer limits (an hour, a day, the account's daily cap) and everything
 * the caller must fix are permanent.
 */
const RETRYABLE = new Set([
  'InternalError',
  'InternalError.Timeout',
  'InternalError.SendAndRecvFail',
  'InternalError.OtherError',
  'InternalError.UnknownError',
  'InternalError.ParseBackendResponseFail',
  'LimitExceeded.DeliveryFrequencyLimit',
  'LimitExceeded.PhoneNumberThirtySecondLimit',
]);

/** Tencent timed out towards the carrier: the message may still have gone out, so a retry asks first. */
const MAYBE_SENT = new Set(['InternalError.Timeout', 'InternalError.SendAndRecvFail']);

/**
 * E.164 as SendSms wants it: `+<country><number>`. A bare 11-digit mainland
 * mobile (1xxxxxxxxxx) gets +86; `00` becomes `+`; other digits are taken
 * to start with their country code.
 */
export function e164(phone: string): string {
  const p = phone.replace(/[\s()-]/g, '');
  if (p.startsWith('+')) return p;
  if (p.startsWith('00')) return `+${p.slice(2)}`;
  if (/^1\d{10}$/.test(p)) return `+86${p}`;
  return `+${p}`;
}

/**
 * Tencent templates take positional parameters ({1}, {2}, … filled from
 * TemplateParamSet, all strings). The same sources as Aliyun's named
 * TemplateParam, in order: metadata.sms_template_params as an array, or as
 * an object read in its key order (keys "1", "2", … come out ascending,
 * matching the placeholders); without it, [title, content].
 */
export function templateParamSet(m: OutgoingMessage): string[] {
  const given = m.metadata.sms_template_params;
  const values = Array.isArray(given)
    ? given
    : given && typeof given === 'object'
      ? Object.values(given as Record<string, unknown>)
      : [m.title, m.content];
  return values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
}

/**
 * Tencent Cloud SMS (API 3.0, SendSms 2021-01-11), JSON over POST with the
 * TC3-HMAC-SHA256 signature. SendSms has no de-duplication key, so each send
 * carries the delivery id as SessionContext, and an interrupted delivery is
 * looked up among the number's delivery receipts
 * (PullSmsSendStatusByPhoneNumber) before it is sent again.
 */
export class TencentSmsProvider implements ChannelProvider {
  readonly channel = 'sms' as const;
  readonly vendor = 'tencent';
  readonly missing: string[];

  constructor(private readonly cfg: TencentConfig) {
    this.missing = (['TENCENT_SECRET_ID', 'TENCENT_SECRET_KEY', 'TENCENT_SMS_SDK_APP_ID', 'TENCENT_SMS_SIGN'] as const).filter((k) => !cfg[k]);
  }

  private async call<T>(action: string, body: Record<string, unknown>, signal: AbortSignal): Promise<Partial<T>> {
    const endpoint = new URL(this.cfg.TENCENT_SMS_ENDPOINT);
    const payload = JSON.stringify(body);
    const timestamp = Math.floor(Date.now() / 1000);
    // the Host signed is the one fetch sends: the endpoint's host with its port, if any
    const { authorization } = tc3Sign(
      { method: 'POST', headers: { 'content-type': CONTENT_TYPE, host: endpoint.host }, payload, service: SERVICE, timestamp },
      this.cfg.TENCENT_SECRET_ID!,
      this.cfg.TENCENT_SECRET_KEY!,
    );
    const reply = await requestJson<ApiReply<T>>(`${endpoint.origin}/`, {
      method: 'POST',
      headers: {
        Authorization: authorization,
        'Content-Type': CONTENT_TYPE,
        'X-TC-Action': action,
        'X-TC-Version': VERSION,
        'X-TC-Region': this.cfg.TENCENT_SMS_REGION,
        'X-TC-Timestamp': String(timestamp),
      },
      body: payload,
      signal,
    });
    const res = reply.body?.Response;
    if (!res) throw permanent(`http_${reply.status}`, `no Response in Tencent's answer: ${JSON.stringify(reply.body).slice(0, 200)}`);
    if (res.Error) throw this.codeError(res.Error.Code ?? 'error', res.Error.Message ?? 'no message');
    return res;
  }

  /** What a Tencent error code means for the delivery; the code itself is kept. */
  private codeError(code: string, message: string): DeliveryError {
    if (code === 'RequestLimitExceeded' || code.startsWith('RequestLimitExceeded.')) return throttled(code, message, 1000);
    if (RETRYABLE.has(code)) return retryable(code, message, { outcomeUnknown: MAYBE_SENT.has(code) || undefined });
    return permanent(code, message);
  }

  async send(m: OutgoingMessage, signal: AbortSignal): Promise<SendResult> {
    const template = typeof m.metadata.sms_template_code === 'string' ? m.metadata.sms_template_code : this.cfg.TENCENT_SMS_TEMPLATE_ID;
    if (!template) throw permanent('no_template', 'no SMS template: set TENCENT_SMS_TEMPLATE_ID or metadata.sms_template_code');
    const res = await this.call<{ SendStatusSet: SendStatus[] }>(
      'SendSms',
      {
        PhoneNumberSet: [e164(m.address)],
        SmsSdkAppId: this.cfg.TENCENT_SMS_SDK_APP_ID!,
        SignName: this.cfg.TENCENT_SMS_SIGN!,
        TemplateId: template,
        TemplateParamSet: templateParamSet(m),
        // returned as is in the receipts: how an interrupted delivery is recognised later
        SessionContext: m.deliveryId,
      },
      signal,
    );
    const status = res.SendStatusSet?.[0];
    if (!status) throw retryable('no_send_status', 'Tencent answered without a SendStatusSet', { outcomeUnknown: true });
    if (status.Code !== 'Ok') throw this.codeError(status.Code ?? 'error', status.Message ?? 'no message');
    return { providerMessageId: status.SerialNo ?? null };
  }

  /**
   * Did an interrupted attempt of this delivery reach Tencent? Its receipt
   * carries the SessionContext we sent. Only messages whose receipt has
   * come back are listed (Offset is fixed at 0, at most 100 rows, 7 days
   * back), and Tencent fills SessionContext in receipts only once the
   * account has it enabled: when the lookup cannot tell, the delivery is
   * sent again (at least once, never lost).
   */
  async findPrevious(m: OutgoingMessage, signal: AbortSignal): Promise<SendResult | null> {
    const now = Math.floor(Date.now() / 1000);
    const created = Math.floor(Date.parse(m.created_at) / 1000);
    const begin = Math.max(now - 7 * 86_400 + 60, (Number.isFinite(created) ? created : now - 86_400) - 60);
    let rows: ReceiptStatus[];
    try {
      const res = await this.call<{ PullSmsSendStatusSet: ReceiptStatus[] }>(
        'PullSmsSendStatusByPhoneNumber',
        { BeginTime: begin, Offset: 0, Limit: 100, PhoneNumber: e164(m.address), SmsSdkAppId: this.cfg.TENCENT_SMS_SDK_APP_ID!, EndTime: now + 60 },
        signal,
      );
      rows = res.PullSmsSendStatusSet ?? [];
    } catch (err) {
      // a lookup this account may not make (not enabled, no permission) cannot tell: send again
      if (classifyUnknown(err).kind === 'permanent') return null;
      throw err;
    }
    const hit = rows.find((r) => r.SessionContext === m.deliveryId);
    return hit ? { providerMessageId: hit.SerialNo ?? `session:${m.deliveryId}` } : null;
  }

  /**
   * A signed PullSmsSendStatusByPhoneNumber for the last minute and a number
   * nothing was sent to (a read that sends nothing): Tencent checks the
   * SecretId, the signature with the SecretKey, and that the SmsSdkAppId is
   * the account's. The sign and template are checked only by a real send.
   */
  async verify(signal: AbortSignal): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    await this.call(
      'PullSmsSendStatusByPhoneNumber',
      { BeginTime: now - 60, Offset: 0, Limit: 1, PhoneNumber: '+8613800000000', SmsSdkAppId: this.cfg.TENCENT_SMS_SDK_APP_ID!, EndTime: now },
      signal,
    );
    return `PullSmsSendStatusByPhoneNumber answered: the SecretId, SecretKey and SmsSdkAppId ${this.cfg.TENCENT_SMS_SDK_APP_ID} are accepted (the sign and template are checked by a send)`;
  }

  classify(err: unknown): DeliveryError {
    return classifyUnknown(err);
  }
}
