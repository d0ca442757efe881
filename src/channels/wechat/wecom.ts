import type { Config } from '../../config.js';
import { TokenCache, requestJson } from '../http.js';
import { bodyOf, noteOf, richOf } from '../rich.js';
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
 * cached until it expires, then `message/send` as text, markdown, a
 * textcard or news (see payload). enable_duplicate_check makes
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

  /**
   * The message/send body and what it leaves out. A template's markdown
   * body goes as `markdown` (links appended as markdown links); a picture
   * with a link as `news`; a link or buttons as `textcard`, whose one
   * button opens the card's link; anything else as `text`.
   */
  payload(m: OutgoingMessage): { body: Record<string, unknown>; note: string | null } {
    const base = {
      touser: m.address,
      agentid: Number(this.cfg.WECHAT_AGENT_ID),
      safe: 0,
      enable_duplicate_check: 1,
      duplicate_check_interval: DUPLICATE_WINDOW_S,
    };
    const text = bodyOf(m, 'wechat');
    const rich = richOf(m);
    const notes: string[] = [];
    // the card opens one link: the notification's, else its first button's
    const link = rich.url ?? rich.actions[0]?.url ?? null;

    if (text.markdown) {
      const links = [...(rich.url ? [`[详情](${rich.url})`] : []), ...rich.actions.map((a) => `[${a.label}](${a.url})`)];
      if (rich.image_url) notes.push('image not shown: wecom markdown messages have no pictures');
      const content = links.length ? `${text.content}\n\n${links.join('\n')}` : text.content;
      return { body: { ...base, msgtype: 'markdown', markdown: { content } }, note: noteOf(notes) };
    }
    if (rich.image_url && link) {
      if (rich.actions.length) notes.push(`buttons not shown: a wecom news message has none (it opens ${link})`);
      const article = { title: text.title, description: text.content, url: link, picurl: rich.image_url };
      return { body: { ...base, msgtype: 'news', news: { articles: [article] } }, note: noteOf(notes) };
    }
    if (link) {
      // the card's button opens the card's link: it carries the label of the button that goes there
      const button = rich.actions.find((a) => a.url === link);
      const left = rich.actions.filter((a) => a !== button);
      if (left.length) notes.push(`buttons not shown: ${left.map((a) => a.label).join(', ')} (a wecom textcard has one button)`);
      const textcard = { title: text.title, description: text.content, url: link, btntxt: button?.label ?? '详情' };
      return { body: { ...base, msgtype: 'textcard', textcard }, note: noteOf(notes) };
    }
    if (rich.image_url) notes.push('image not shown: wecom shows a picture only in a news message, which needs a link');
    return { body: { ...base, msgtype: 'text', text: { content: `${text.title}\n${text.content}` } }, note: noteOf(notes) };
  }

  async send(m: OutgoingMessage, signal: AbortSignal): Promise<SendResult> {
    const payload = this.payload(m);
    const body = JSON.stringify(payload.body);
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
      return { providerMessageId: r.msgid ?? null, note: payload.note };
    }
  }

  /** Fetches a fresh access token (gettoken with the corp id and secret; PROVIDER_TIMEOUT_MS bounds it); sends nothing. */
  async verify(): Promise<string> {
    const { expiresInS } = await this.fetchToken();
    return `gettoken answered an access token valid for ${expiresInS} s (the agent id is checked by a send)`;
  }

  classify(err: unknown): DeliveryError {
    return classifyUnknown(err);
  }
}
