import type { Config } from '../../config.js';
import type { NotificationType } from '../../../queues/jobs.js';
import { TokenCache, requestJson } from '../http.js';
import { bodyOf, noteOf, richOf } from '../rich.js';
import { classifyUnknown, permanent, retryable, throttled, type ChannelProvider, type DeliveryError, type OutgoingMessage, type SendResult } from '../types.js';

type FeishuConfig = Pick<Config, 'FEISHU_APP_ID' | 'FEISHU_APP_SECRET' | 'FEISHU_API_BASE' | 'PROVIDER_TIMEOUT_MS'>;

interface FeishuReply {
  code: number;
  msg: string;
  tenant_access_token?: string;
  expire?: number;
  data?: { message_id?: string };
}

/** Token invalid or expired: refresh and retry once. */
const TOKEN_ERRORS = new Set([99991663, 99991664, 99991661, 99991668]);
/** Frequency limit. */
const THROTTLED = new Set([99991400, 230020]);
/** Feishu's own transient failures. */
const RETRYABLE = new Set([1500, 1503, 99991000, 99991001, 230099]);

/**
 * The receive_id_type of an address: open ids start with ou_, union ids
 * with on_, chats with oc_; an address with @ is an email, anything else a
 * user id.
 */
export function receiveIdType(address: string): 'open_id' | 'union_id' | 'chat_id' | 'email' | 'user_id' {
  if (address.startsWith('ou_')) return 'open_id';
  if (address.startsWith('on_')) return 'union_id';
  if (address.startsWith('oc_')) return 'chat_id';
  if (address.includes('@')) return 'email';
  return 'user_id';
}

/** The card header's colour per notification type (Feishu's header templates). */
const HEADER: Record<NotificationType, string> = { info: 'blue', success: 'green', warning: 'orange', error: 'red', alert: 'red', system: 'grey' };

/**
 * The im/v1/messages body (without receive_id and uuid) and what it leaves
 * out. A link, buttons or a template's markdown body make an `interactive`
 * message card: the title in the header, the body in a div (lark_md for
 * markdown, plain_text otherwise, so plain text is never read as markup),
 * the link as the card's link, and the buttons in an action element, each
 * opening its url. A card shows a picture only by an image_key uploaded to
 * Feishu beforehand, which Herald does not do: the picture is left out and
 * the record says so. Anything else is sent as text, as before.
 */
export function feishuMessage(m: OutgoingMessage): { msg_type: string; content: string; note: string | null } {
  const text = bodyOf(m, 'feishu');
  const rich = richOf(m);
  const notes: string[] = [];
  if (rich.image_url) notes.push('image not shown: feishu needs an uploaded image_key');
  if (!text.markdown && !rich.url && !rich.actions.length)
    return { msg_type: 'text', content: JSON.stringify({ text: `${text.title}\n${text.content}` }), note: noteOf(notes) };
  const button = (label: string, url: string, primary: boolean) => ({
    tag: 'button',
    text: { tag: 'plain_text', content: label },
    url,
    type: primary ? 'primary' : 'default',
  });
  const buttons = rich.actions.length
    ? rich.actions.map((a) => button(a.label, a.url, a.style === 'primary'))
    : rich.url
      ? [button('查看详情', rich.url, true)]
      : [];
  const card = {
    config: { wide_screen_mode: true },
    header: { title: { tag: 'plain_text', content: text.title }, template: HEADER[m.type] ?? 'blue' },
    ...(rich.url ? { card_link: { url: rich.url } } : {}),
    elements: [
      { tag: 'div', text: { tag: text.markdown ? 'lark_md' : 'plain_text', content: text.content } },
      ...(buttons.length ? [{ tag: 'action', actions: buttons }] : []),
    ],
  };
  return { msg_type: 'interactive', content: JSON.stringify(card), note: noteOf(notes) };
}

/**
 * Feishu (飞书) messages from an internal app: tenant_access_token (cached
 * until it expires), then im/v1/messages with receive_id_type. The delivery
 * id is the request `uuid`, Feishu's de-duplication key: a repeat within an
 * hour sends nothing new.
 */
export class FeishuProvider implements ChannelProvider {
  readonly channel = 'feishu' as const;
  readonly vendor = 'feishu';
  readonly missing: string[];
  private readonly tokens: TokenCache;

  constructor(private readonly cfg: FeishuConfig) {
    this.missing = (['FEISHU_APP_ID', 'FEISHU_APP_SECRET'] as const).filter((k) => !cfg[k]);
    this.tokens = new TokenCache(() => this.fetchToken());
  }

  private base(path: string) {
    return `${this.cfg.FEISHU_API_BASE.replace(/\/$/, '')}${path}`;
  }

  private async fetchToken(): Promise<{ value: string; expiresInS: number }> {
    const { body } = await requestJson<FeishuReply>(this.base('/open-apis/auth/v3/tenant_access_token/internal'), {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify({ app_id: this.cfg.FEISHU_APP_ID, app_secret: this.cfg.FEISHU_APP_SECRET }),
      signal: AbortSignal.timeout(this.cfg.PROVIDER_TIMEOUT_MS),
    });
    if (body?.code !== 0 || !body.tenant_access_token) throw this.codeError(body?.code ?? -1, `tenant_access_token: ${body?.msg ?? 'no answer'}`);
    return { value: body.tenant_access_token, expiresInS: body.expire ?? 7200 };
  }

  private codeError(code: number, msg: string): DeliveryError {
    if (THROTTLED.has(code)) return throttled(String(code), msg, 1000);
    if (RETRYABLE.has(code)) return retryable(String(code), msg);
    return permanent(String(code), msg);
  }

  async send(m: OutgoingMessage, signal: AbortSignal): Promise<SendResult> {
    const type = receiveIdType(m.address);
    const { note, ...message } = feishuMessage(m);
    const body = JSON.stringify({
      receive_id: m.address,
      ...message,
      // Feishu keeps at most one message per uuid for an hour (its limit is 50 characters)
      uuid: m.deliveryId,
    });
    for (let round = 0; ; round++) {
      const token = await this.tokens.get();
      const reply = await requestJson<FeishuReply>(this.base(`/open-apis/im/v1/messages?receive_id_type=${type}`), {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8', authorization: `Bearer ${token}` },
        body,
        signal,
      });
      const r = reply.body;
      if (r && TOKEN_ERRORS.has(r.code) && round === 0) {
        this.tokens.invalidate(token);
        continue;
      }
      if (!r || r.code !== 0) throw this.codeError(r?.code ?? reply.status, r?.msg ?? `HTTP ${reply.status}`);
      return { providerMessageId: r.data?.message_id ?? null, note };
    }
  }

  /** Fetches a fresh tenant_access_token with the app id and secret (PROVIDER_TIMEOUT_MS bounds it); sends nothing. */
  async verify(): Promise<string> {
    const { expiresInS } = await this.fetchToken();
    return `tenant_access_token answered a token valid for ${expiresInS} s`;
  }

  classify(err: unknown): DeliveryError {
    return classifyUnknown(err);
  }
}
