import { randomBytes } from 'node:crypto';
import { Script, startHttpFake } from './http-fake.js';

export interface WecomMessage {
  touser: string;
  msgtype: string;
  agentid: number;
  text?: { content: string };
  textcard?: { title: string; description: string; url: string; btntxt?: string };
  markdown?: { content: string };
  news?: { articles: Array<{ title: string; description?: string; url?: string; picurl?: string }> };
  msgid: string;
}

/**
 * A fake of WeCom's (企业微信) server API: gettoken (corpid + corpsecret →
 * access_token, expires_in 7200) and message/send (text, textcard,
 * markdown, news). Tokens are checked as
 * WeCom does: missing 41001, unknown 40014, expired 42001. Users not in
 * the directory come back in `invaliduser` with errcode 0 (81013 when no
 * recipient is valid). enable_duplicate_check drops a repeat of the same
 * content to the same user within duplicate_check_interval and still
 * answers ok.
 */
export async function startWecomFake(opts: { corpId?: string; secret?: string; agentId?: number; users?: string[] } = {}) {
  const corpId = opts.corpId ?? 'wwcorp';
  const secret = opts.secret ?? 'corp-secret';
  const agentId = opts.agentId ?? 1000002;
  const users = new Set(opts.users ?? ['zhangsan', 'lisi']);
  const tokens = new Map<string, number>(); // token → expires at
  const delivered: WecomMessage[] = [];
  const recent = new Map<string, number>(); // touser|content → time
  const script = new Script();
  let tokenRequests = 0;

  const fake = await startHttpFake((req) => {
    if (req.path === '/cgi-bin/gettoken') {
      tokenRequests++;
      if (req.query.get('corpid') !== corpId) return { json: { errcode: 40013, errmsg: 'invalid corpid' } };
      if (req.query.get('corpsecret') !== secret) return { json: { errcode: 40001, errmsg: 'invalid credential' } };
      const token = randomBytes(16).toString('hex');
      tokens.set(token, Date.now() + 7200_000);
      return { json: { errcode: 0, errmsg: 'ok', access_token: token, expires_in: 7200 } };
    }
    if (req.path !== '/cgi-bin/message/send' || req.method !== 'POST') return { status: 404, json: { errcode: 404, errmsg: 'not found' } };
    const token = req.query.get('access_token');
    if (!token) return { json: { errcode: 41001, errmsg: 'access_token missing' } };
    const expires = tokens.get(token);
    if (expires === undefined) return { json: { errcode: 40014, errmsg: 'invalid access_token' } };
    if (expires < Date.now()) return { json: { errcode: 42001, errmsg: 'access_token expired' } };
    let body: any;
    try {
      body = JSON.parse(req.body);
    } catch {
      return { json: { errcode: 47001, errmsg: 'data format error' } };
    }
    if (body.agentid !== agentId) return { json: { errcode: 40056, errmsg: 'invalid agentid' } };
    if (!body.touser && !body.toparty && !body.totag) return { json: { errcode: 40035, errmsg: 'touser, toparty, totag all empty' } };
    if (body.msgtype === 'text' && !body.text?.content) return { json: { errcode: 41009, errmsg: 'missing text content' } };
    if (body.msgtype === 'textcard' && (!body.textcard?.title || !body.textcard?.description || !body.textcard?.url))
      return { json: { errcode: 44004, errmsg: 'textcard missing field' } };
    if (body.msgtype === 'markdown' && !body.markdown?.content) return { json: { errcode: 44004, errmsg: 'markdown content is empty' } };
    if (body.msgtype === 'markdown' && Buffer.byteLength(body.markdown.content) > 2048) return { json: { errcode: 45002, errmsg: 'content size out of limit' } };
    // news: 1 to 8 articles, each with a title and a url (or a mini program's appid)
    const articles = body.news?.articles;
    if (body.msgtype === 'news' && (!Array.isArray(articles) || articles.length < 1 || articles.length > 8))
      return { json: { errcode: 45008, errmsg: 'article size out of limit' } };
    if (body.msgtype === 'news' && articles.some((a: any) => !a?.title || (!a.url && !a.appid))) return { json: { errcode: 41016, errmsg: 'missing title or url' } };
    if (!['text', 'textcard', 'markdown', 'news'].includes(body.msgtype)) return { json: { errcode: 40008, errmsg: 'invalid message type' } };

    const outcome = script.take();
    if (outcome === 'timeout') return { hang: true };
    if (outcome === 'http500') return { status: 502, json: {} };
    if (outcome === 'throttle') return { json: { errcode: 45009, errmsg: 'reach max api daily quota limit' } };
    if (outcome === 'permanent') return { json: { errcode: 60020, errmsg: 'not allow to access from your ip' } };
    if (outcome === 'hold') return { json: { errcode: -1, errmsg: 'system busy' } };

    const targets = String(body.touser).split('|');
    const invalid = targets.filter((u) => !users.has(u));
    const valid = targets.filter((u) => users.has(u));
    if (!valid.length) return { json: { errcode: 81013, errmsg: 'user & party & tag all invalid', invaliduser: invalid.join('|') } };
    const content = JSON.stringify(body.text ?? body.textcard ?? body.markdown ?? body.news);
    const msgid = randomBytes(12).toString('hex');
    for (const u of valid) {
      const key = `${u}|${content}`;
      const window = (body.duplicate_check_interval ?? 1800) * 1000;
      if (body.enable_duplicate_check === 1 && (recent.get(key) ?? 0) > Date.now() - window) continue;
      recent.set(key, Date.now());
      delivered.push({ touser: u, msgtype: body.msgtype, agentid: body.agentid, text: body.text, textcard: body.textcard, markdown: body.markdown, news: body.news, msgid });
    }
    return { json: { errcode: 0, errmsg: 'ok', invaliduser: invalid.join('|'), invalidparty: '', invalidtag: '', unlicenseduser: '', msgid } };
  });

  return {
    ...fake,
    corpId,
    secret,
    agentId,
    delivered,
    script,
    get tokenRequests() {
      return tokenRequests;
    },
    /** every token issued so far is unknown from now on (the next send gets 40014, as after a secret reset) */
    forgetTokens() {
      tokens.clear();
    },
    /** every token issued so far lapses now (the next send gets 42001) */
    expireTokens() {
      for (const t of tokens.keys()) tokens.set(t, 0);
    },
  };
}
