/**
 * What one channel shows of a rendered template: its own body where the
 * template has one (metadata.channel_content.<channel> on the notification),
 * else the generic title and content.
 */
export interface ChannelBody {
  /** the email subject, push title, or the generic title */
  title: string;
  /** the email text part, SMS text, IM markdown, push body, or the generic content */
  content: string;
  /** email only: the HTML part, when the template has one (values escaped) */
  html?: string;
  /** sms only: the provider's template code, when the template names one */
  template_code?: string;
  /** wechat and feishu: true when `content` is the template's markdown body */
  markdown?: boolean;
}

export interface RenderedTexts {
  title: string;
  content: string;
  /** per-channel texts, rendered (email: subject, html, text; sms: text, template_code; wechat/feishu: markdown; push: title, body) */
  channels: Record<string, Record<string, string>>;
}

export function channelBody(r: RenderedTexts, channel: string): ChannelBody {
  const own = r.channels[channel] ?? {};
  switch (channel) {
    case 'email':
      return { title: own.subject ?? r.title, content: own.text ?? r.content, ...(own.html !== undefined ? { html: own.html } : {}) };
    case 'sms':
      return { title: r.title, content: own.text ?? r.content, ...(own.template_code !== undefined ? { template_code: own.template_code } : {}) };
    case 'wechat':
    case 'feishu':
      return own.markdown !== undefined ? { title: r.title, content: own.markdown, markdown: true } : { title: r.title, content: r.content };
    case 'push':
      return { title: own.title ?? r.title, content: own.body ?? r.content };
    default:
      return { title: r.title, content: r.content };
  }
}
