import type { Config } from '../../config.js';
import { TokenCache, requestJson } from '../http.js';
import { classifyUnknown, permanent, retryable, throttled, type ChannelProvider, type DeliveryError, type OutgoingMessage, type SendResult } from '../types.js';

type WecomConfig = Pick<Config, 'WECHAT_CORP_ID' | 'WECHAT_CORP_SECRET' | 'WECHAT_AGENT_ID' | 'WECOM_API_BASE' | 'PROVIDER_TIMEOUT_MS'>;

interface WecomReply {
  errcode: number;
  errmsg: string;
  access_token?: string;
  expires_in?: number;
  invaliduser?: string;
  msgid?: string;
}

/** The access token is invalid (40014), expired (42001) or missing (41001): fetch a new one and retry at once. */
const TOKEN_ERRORS = new Set([40014, 42001, 41001]);
/** System busy: try again later. */
const BUSY = new Set([-1]);
/** Frequency limits (API calls, per-user messages). */
const THROTTLED = new Set([45009, 45033, 45047]);

/**
 * How long WeCom refuses a repeat of the same content to the same user (its
 * default, 30 min). WeCom compares content, not an id: two different
 * notifications with identical text to one user inside the window arrive once.
 */
const DUPLICATE_WINDOW_S = 1800;

/**
 * WeCom (企业微信) application messages: `gettoken` with the access token
 * cached until it expires, then `message/send` as text, or as a textcard
 * when the notification carries metadata.url. enable_duplicate_check makes
 * WeCom itself drop a repeat of the same content to the same user, so a
 * delivery retried after an unacknowledged success does not arrive twice.
 */
export class WecomProvider implements ChannelProvider {
  readonly channel = 'wechat' as const;
  readonly vendor = 'wecom';
  readonly missing: string[];
  private readonly tokens: TokenCache;

  constructor(private readonly cfg: WecomConfig) {
    this.missing = (['WECHAT_CORP_ID', 'WECHAT_CORP_SECRET', 'WECHAT_AGENT_ID'] as const).filter((k) => !cfg[k]);
    this.tokens = new TokenCache(() => this.fetchToken());
  }

  private base(path: string) {
    return `${this.cfg.WECOM_API_BASE.replace(/\/$/, '')}${path}`;
  }

  private async fetchToken(): Promise<{ value: string; expiresInS: number }> {
    const url = this.base(
      `/cgi-bin/gettoken?corpid=${encodeURIComponent(this.cfg.WECHAT_CORP_ID!)}&corpsecret=${encodeURIComponent(this.cfg.WECHAT_CORP_SECRET!)}`,
    );
    const { body } = await requestJson<WecomReply>(url, { signal: AbortSignal.timeout(this.cfg.PROVIDER_TIMEOUT_MS) });
    if (body?.errcode !== 0 || !body.access_token) throw this.codeError(body?.errcode ?? -1, `gettoken: ${body?.errmsg ?? 'no answer'}`);
    return { value: body.access_token, expiresInS: body.expires_in ?? 7200 };
  }

  private codeError(code: number, msg: string): DeliveryError {
    if (BUSY.has(code)) return retryable(String(code), msg);
    if (THROTTLED.has(code)) return throttled(String(code), msg, 1000);
    return permanent(String(code), msg);
  }

  payload(m: OutgoingMessage) {
    const url = typeof m.metadata.url === 'string' ? m.metadata.url : undefined;
    const base = {
      touser: m.address,
      agentid: Number(this.cfg.WECHAT_AGENT_ID),
      safe: 0,
      enable_duplicate_check: 1,
      duplicate_check_interval: DUPLICATE_WINDOW_S,
    };
    return url
      ? { ...base, msgtype: 'textcard', textcard: { title: m.title, description: m.content, url, btntxt: '详情' } }
      : { ...base, msgtype: 'text', text: { content: `${m.title}\n${m.content}` } };
  }

  async send(m: OutgoingMessage, signal: AbortSignal): Promise<SendResult> {
    const body = JSON.stringify(this.payload(m));
    // one refresh per send: a token refused twice in a row is a real failure
    for (let round = 0; ; round++) {
      const token = await this.tokens.get();
      const reply = await requestJson<WecomReply>(this.base(`/cgi-bin/message/send?access_token=${encodeURIComponent(token)}`), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal,
      });
      const r = reply.body;
      if (r && TOKEN_ERRORS.has(r.errcode) && round === 0) {
        this.tokens.invalidate(token);
        continue;
      }
      if (!r || r.errcode !== 0) throw this.codeError(r?.errcode ?? -1, r?.errmsg ?? 'no answer');
      // errcode 0 still lists the users it could not reach
      const invalid = (r.invaliduser ?? '').split('|').filter(Boolean);
      if (invalid.some((u) => u.toLowerCase() === m.address.toLowerCase()))
        throw permanent('invaliduser', `WeCom does not know user ${m.address}`, { reason: 'invalid_address' });
      return { providerMessageId: r.msgid ?? null };
    }
  }

  classify(err: unknown): DeliveryError {
    return classifyUnknown(err);
  }
}
