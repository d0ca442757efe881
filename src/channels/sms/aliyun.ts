import { randomUUID } from 'node:crypto';
import type { Config } from '../../config.js';
import { requestJson } from '../http.js';
import { classifyUnknown, permanent, retryable, throttled, type ChannelProvider, type DeliveryError, type OutgoingMessage, type SendResult } from '../types.js';
import { popSignature } from './pop-signature.js';

type AliyunConfig = Pick<
  Config,
  'ALIYUN_ACCESS_KEY' | 'ALIYUN_ACCESS_SECRET' | 'ALIYUN_SMS_SIGN' | 'ALIYUN_SMS_TEMPLATE_CODE' | 'ALIYUN_SMS_ENDPOINT'
>;

interface PopReply {
  Code?: string;
  Message?: string;
  BizId?: string;
  RequestId?: string;
  SmsSendDetailDTOs?: { SmsSendDetailDTO?: Array<{ OutId?: string; SendStatus?: number; PhoneNum?: string }> };
}

/** Codes that mean "try again later" (Aliyun's own failures and per-number flow control). */
const RETRYABLE = new Set(['isp.SYSTEM_ERROR', 'isp.GATEWAY_ERROR', 'ServiceUnavailable', 'InternalError', 'isv.BUSINESS_LIMIT_CONTROL']);

/** Aliyun wants numbers without '+' (mainland numbers without the 86 prefix work as is). */
export const normalizePhone = (phone: string) => phone.replace(/[\s-]/g, '').replace(/^\+/, '');

/** yyyyMMdd in China time, the calendar QuerySendDetails files sends under. */
const chinaDate = (t: number) => new Date(t + 8 * 3600_000).toISOString().slice(0, 10).replace(/-/g, '');

/**
 * Aliyun SMS (dysmsapi 2017-05-25, SendSms), RPC style with the POP v1
 * signature. SendSms has no de-duplication, so each send carries the
 * delivery id as OutId and an interrupted delivery is looked up with
 * QuerySendDetails before it is sent again.
 */
export class AliyunSmsProvider implements ChannelProvider {
  readonly channel = 'sms' as const;
  readonly vendor = 'aliyun';
  readonly missing: string[];

  constructor(private readonly cfg: AliyunConfig) {
    this.missing = (['ALIYUN_ACCESS_KEY', 'ALIYUN_ACCESS_SECRET', 'ALIYUN_SMS_SIGN'] as const).filter((k) => !cfg[k]);
  }

  private async call(action: string, params: Record<string, string>, signal: AbortSignal): Promise<PopReply> {
    const all: Record<string, string> = {
      AccessKeyId: this.cfg.ALIYUN_ACCESS_KEY!,
      Action: action,
      Format: 'JSON',
      RegionId: 'cn-hangzhou',
      SignatureMethod: 'HMAC-SHA1',
      SignatureNonce: randomUUID(),
      SignatureVersion: '1.0',
      Timestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      Version: '2017-05-25',
      ...params,
    };
    all.Signature = popSignature('POST', all, this.cfg.ALIYUN_ACCESS_SECRET!);
    const reply = await requestJson<PopReply>(`${this.cfg.ALIYUN_SMS_ENDPOINT.replace(/\/$/, '')}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(all).toString(),
      signal,
    });
    const body = reply.body ?? {};
    if (body.Code !== 'OK') throw this.codeError(body.Code ?? `http_${reply.status}`, body.Message ?? 'no message');
    return body;
  }

  private codeError(code: string, message: string): DeliveryError {
    if (code.startsWith('Throttling')) return throttled(code, message, 1000);
    if (RETRYABLE.has(code)) return retryable(code, message);
    return permanent(code, message);
  }

  async send(m: OutgoingMessage, signal: AbortSignal): Promise<SendResult> {
    const template = typeof m.metadata.sms_template_code === 'string' ? m.metadata.sms_template_code : this.cfg.ALIYUN_SMS_TEMPLATE_CODE;
    if (!template) throw permanent('no_template', 'no SMS template: set ALIYUN_SMS_TEMPLATE_CODE or metadata.sms_template_code');
    const params =
      m.metadata.sms_template_params && typeof m.metadata.sms_template_params === 'object'
        ? (m.metadata.sms_template_params as Record<string, unknown>)
        : { title: m.title, content: m.content };
    // TemplateParam values must be strings (isv.INVALID_JSON_PARAM otherwise)
    const stringParams = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
    const body = await this.call(
      'SendSms',
      {
        PhoneNumbers: normalizePhone(m.address),
        SignName: this.cfg.ALIYUN_SMS_SIGN!,
        TemplateCode: template,
        TemplateParam: JSON.stringify(stringParams),
        OutId: m.deliveryId,
      },
      signal,
    );
    return { providerMessageId: body.BizId ?? null };
  }

  /** Herald's own record for a provider that does not de-duplicate: was this OutId already sent today or on the creation day? */
  async findPrevious(m: OutgoingMessage, signal: AbortSignal): Promise<SendResult | null> {
    const days = [...new Set([chinaDate(Date.parse(m.created_at)), chinaDate(Date.now())])];
    for (const day of days) {
      for (let page = 1; page <= 5; page++) {
        const body = await this.call(
          'QuerySendDetails',
          { PhoneNumber: normalizePhone(m.address), SendDate: day, PageSize: '50', CurrentPage: String(page) },
          signal,
        );
        const rows = body.SmsSendDetailDTOs?.SmsSendDetailDTO ?? [];
        if (rows.some((r) => r.OutId === m.deliveryId)) return { providerMessageId: `outid:${m.deliveryId}` };
        if (rows.length < 50) break;
      }
    }
    return null;
  }

  /**
   * A signed QuerySendDetails for a number nothing was sent to (a read that
   * sends nothing): Aliyun checks the AccessKey and its signature as for
   * SendSms. The sign name and template are checked only by a real send.
   */
  async verify(signal: AbortSignal): Promise<string> {
    // a well-formed mainland number: the answer only lists what was sent to it
    await this.call('QuerySendDetails', { PhoneNumber: '13800000000', SendDate: chinaDate(Date.now()), PageSize: '1', CurrentPage: '1' }, signal);
    return 'QuerySendDetails answered OK: the AccessKey and secret are accepted (the sign name and template are checked by a send)';
  }

  classify(err: unknown): DeliveryError {
    return classifyUnknown(err);
  }
}
