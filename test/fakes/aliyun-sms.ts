import { randomUUID } from 'node:crypto';
import { popSignature } from '../../src/channels/sms/pop-signature.js';
import { Script, gate, startHttpFake, type HttpFake } from './http-fake.js';

export interface AliyunSent {
  phone: string;
  signName: string;
  templateCode: string;
  templateParam: Record<string, string>;
  outId: string | null;
  bizId: string;
  sendDate: string;
}

const REQUIRED = ['AccessKeyId', 'Action', 'Format', 'SignatureMethod', 'SignatureNonce', 'SignatureVersion', 'Timestamp', 'Version', 'Signature'];

/**
 * A fake of Aliyun's dysmsapi (RPC style, 2017-05-25): checks the POP v1
 * signature (HMAC-SHA1 over the sorted, percent-encoded parameters), the
 * common parameters, a fresh nonce and a timestamp within 15 minutes, then
 * SendSms's own (PhoneNumbers, SignName, TemplateCode, TemplateParam as a
 * JSON object of strings) and answers Aliyun's codes. QuerySendDetails
 * lists what was sent, with OutId.
 */
export async function startAliyunFake(keys: Record<string, string> = { 'test-key': 'test-secret' }) {
  const sent: AliyunSent[] = [];
  const nonces = new Set<string>();
  const script = new Script();
  let held: ReturnType<typeof gate> | null = null;
  const onSend: Array<(s: AliyunSent) => void> = [];
  const err = (Code: string, Message: string, status = 200) => ({ status, json: { Code, Message, RequestId: randomUUID() } });

  const fake: HttpFake = await startHttpFake((req) => {
    if (req.method !== 'POST' && req.method !== 'GET') return err('UnsupportedHTTPMethod', 'method', 400);
    const params = Object.fromEntries(new URLSearchParams(req.method === 'POST' ? req.body : req.query.toString()));
    for (const k of REQUIRED) if (!params[k]) return err('MissingParameter', `${k} is mandatory for this action.`, 400);
    const secret = keys[params.AccessKeyId];
    if (!secret) return err('InvalidAccessKeyId.NotFound', 'Specified access key is not found.', 404);
    if (params.SignatureMethod !== 'HMAC-SHA1' || params.SignatureVersion !== '1.0') return err('InvalidParameter', 'signature method', 400);
    const { Signature, ...rest } = params;
    if (popSignature(req.method, rest, secret) !== Signature)
      return err('SignatureDoesNotMatch', 'Specified signature is not matched with our calculation.', 400);
    if (nonces.has(params.SignatureNonce)) return err('SignatureNonceUsed', 'Specified signature nonce was used already.', 400);
    nonces.add(params.SignatureNonce);
    if (Math.abs(Date.parse(params.Timestamp) - Date.now()) > 15 * 60_000 || !/Z$/.test(params.Timestamp))
      return err('InvalidTimeStamp.Expired', 'Specified time stamp or date value is expired.', 400);
    if (params.Version !== '2017-05-25') return err('InvalidVersion', 'Specified parameter Version is not valid.', 400);

    if (params.Action === 'QuerySendDetails') {
      if (!params.PhoneNumber || !params.SendDate || !params.PageSize || !params.CurrentPage) return err('isv.INVALID_PARAMETERS', 'missing parameter');
      const size = Number(params.PageSize);
      const page = Number(params.CurrentPage);
      const rows = sent.filter((s) => s.phone === params.PhoneNumber && s.sendDate === params.SendDate);
      const slice = rows.slice((page - 1) * size, page * size);
      return {
        json: {
          Code: 'OK',
          Message: 'OK',
          RequestId: randomUUID(),
          TotalCount: rows.length,
          SmsSendDetailDTOs: {
            SmsSendDetailDTO: slice.map((s) => ({ PhoneNum: s.phone, SendStatus: 3, ErrCode: 'DELIVERED', TemplateCode: s.templateCode, OutId: s.outId })),
          },
        },
      };
    }
    if (params.Action !== 'SendSms') return err('InvalidAction.NotFound', 'Specified api is not found.', 404);
    for (const k of ['PhoneNumbers', 'SignName', 'TemplateCode']) if (!params[k]) return err('MissingParameter', `${k} is mandatory.`, 400);
    if (!/^\d{6,15}$/.test(params.PhoneNumbers)) return err('isv.MOBILE_NUMBER_ILLEGAL', '非法手机号');
    let templateParam: Record<string, string> = {};
    if (params.TemplateParam) {
      try {
        templateParam = JSON.parse(params.TemplateParam);
      } catch {
        return err('isv.INVALID_JSON_PARAM', 'JSON参数不合法');
      }
      if (Object.values(templateParam).some((v) => typeof v !== 'string')) return err('isv.INVALID_JSON_PARAM', 'JSON参数不合法，只接受字符串值');
    }
    const outcome = script.take();
    if (outcome === 'timeout') return { hang: true };
    if (outcome === 'http500') return err('ServiceUnavailable', 'The request has failed due to a temporary failure of the server.', 503);
    if (outcome === 'throttle') return err('Throttling.User', 'Request was denied due to user flow control.', 400);
    if (outcome === 'permanent') return err('isv.SMS_TEMPLATE_ILLEGAL', '短信模板不合法');
    const record: AliyunSent = {
      phone: params.PhoneNumbers,
      signName: params.SignName,
      templateCode: params.TemplateCode,
      templateParam,
      outId: params.OutId ?? null,
      bizId: `${Date.now()}^${sent.length}`,
      sendDate: new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10).replace(/-/g, ''),
    };
    sent.push(record);
    onSend.forEach((f) => f(record));
    const reply = { json: { Code: 'OK', Message: 'OK', BizId: record.bizId, RequestId: randomUUID() } };
    return outcome === 'hold' && held ? { ...reply, after: held.promise } : reply;
  });

  return {
    ...fake,
    endpoint: fake.url,
    sent,
    script,
    onSend,
    /** the next 'hold' outcome answers only when release() is called */
    hold() {
      held = gate();
      script.push('hold');
      return held;
    },
  };
}
