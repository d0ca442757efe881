import { randomBytes } from 'node:crypto';
import { Script, gate, startHttpFake } from './http-fake.js';

export interface FeishuMessage {
  receive_id: string;
  receive_id_type: string;
  msg_type: string;
  content: string;
  uuid: string | null;
  message_id: string;
}

const RECEIVE_ID_TYPES = new Set(['open_id', 'union_id', 'user_id', 'email', 'chat_id']);

/**
 * A fake of Feishu's open API for an internal app:
 * auth/v3/tenant_access_token/internal (app_id + app_secret) and
 * im/v1/messages, which needs `Authorization: Bearer <token>` (99991663
 * when invalid or expired), a valid receive_id_type query parameter, a
 * receive_id the tenant knows (230013 otherwise) and content as a JSON
 * string. A request with a uuid seen in the last hour returns the first
 * message again and sends nothing.
 */
export async function startFeishuFake(opts: { appId?: string; appSecret?: string; users?: string[] } = {}) {
  const appId = opts.appId ?? 'cli_test';
  const appSecret = opts.appSecret ?? 'feishu-secret';
  const users = new Set(opts.users ?? ['ou_alice', 'ou_bob']);
  const tokens = new Map<string, number>();
  const delivered: FeishuMessage[] = [];
  const byUuid = new Map<string, FeishuMessage>();
  const script = new Script();
  const onSend: Array<(m: FeishuMessage) => void> = [];
  let held: ReturnType<typeof gate> | null = null;
  let tokenRequests = 0;

  const fake = await startHttpFake((req) => {
    if (req.path === '/open-apis/auth/v3/tenant_access_token/internal' && req.method === 'POST') {
      tokenRequests++;
      const body = JSON.parse(req.body || '{}');
      if (body.app_id !== appId || body.app_secret !== appSecret) return { status: 400, json: { code: 10014, msg: 'app secret invalid' } };
      const token = `t-${randomBytes(16).toString('hex')}`;
      tokens.set(token, Date.now() + 7200_000);
      return { json: { code: 0, msg: 'ok', tenant_access_token: token, expire: 7200 } };
    }
    if (req.path !== '/open-apis/im/v1/messages' || req.method !== 'POST') return { status: 404, json: { code: 404, msg: 'not found' } };
    const auth = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''));
    const expires = auth ? tokens.get(auth[1]) : undefined;
    if (!auth) return { status: 400, json: { code: 99991661, msg: 'Missing access token for authorization.' } };
    if (expires === undefined || expires < Date.now()) return { status: 400, json: { code: 99991663, msg: 'Invalid access token for authorization.' } };
    const type = req.query.get('receive_id_type');
    if (!type || !RECEIVE_ID_TYPES.has(type)) return { status: 400, json: { code: 99992402, msg: 'field validation failed: receive_id_type' } };
    let body: any;
    try {
      body = JSON.parse(req.body);
      JSON.parse(body.content);
    } catch {
      return { status: 400, json: { code: 230001, msg: 'Your request contains an invalid request parameter: content.' } };
    }
    if (!body.receive_id || !body.msg_type) return { status: 400, json: { code: 99992402, msg: 'field validation failed' } };
    // a message card: elements, each with a known tag; an img needs an img_key uploaded to Feishu first
    if (body.msg_type === 'interactive') {
      const card = JSON.parse(body.content);
      const bad = !Array.isArray(card.elements) || card.elements.some((e: any) => !['div', 'action', 'hr', 'img', 'note', 'markdown'].includes(e?.tag) || (e.tag === 'img' && !e.img_key));
      if (bad) return { status: 400, json: { code: 230099, msg: 'Failed to create card content' } };
    }
    if (body.uuid && byUuid.has(body.uuid)) return { json: { code: 0, msg: 'success', data: { message_id: byUuid.get(body.uuid)!.message_id } } };

    const outcome = script.take();
    if (outcome === 'timeout') return { hang: true };
    if (outcome === 'http500') return { status: 500, json: { code: 1500, msg: 'internal error' } };
    if (outcome === 'throttle') return { status: 429, headers: { 'retry-after': '1' }, json: { code: 99991400, msg: 'request trigger frequency limit' } };
    if (outcome === 'permanent' || !users.has(body.receive_id))
      return { status: 400, json: { code: 230013, msg: 'Bot has NO availability to this user.' } };
    const message: FeishuMessage = {
      receive_id: body.receive_id,
      receive_id_type: type,
      msg_type: body.msg_type,
      content: body.content,
      uuid: body.uuid ?? null,
      message_id: `om_${randomBytes(12).toString('hex')}`,
    };
    delivered.push(message);
    if (message.uuid) byUuid.set(message.uuid, message);
    onSend.forEach((f) => f(message));
    const reply = { json: { code: 0, msg: 'success', data: { message_id: message.message_id } } };
    return outcome === 'hold' && held ? { ...reply, after: held.promise } : reply;
  });

  return {
    ...fake,
    appId,
    appSecret,
    delivered,
    script,
    onSend,
    get tokenRequests() {
      return tokenRequests;
    },
    expireTokens() {
      for (const t of tokens.keys()) tokens.set(t, 0);
    },
    /** the next send is recorded at once but answered only when the gate opens */
    hold() {
      held = gate();
      script.push('hold');
      return held;
    },
  };
}
