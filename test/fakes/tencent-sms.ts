import { randomUUID } from 'node:crypto';
import { parseTc3Authorization, tc3Sign, utcDate } from '../../src/channels/sms/tc3-signature.js';
import { gate, startHttpFake, type FakeRequest, type HttpFake, type Reply } from './http-fake.js';

export interface TencentSent {
  phone: string;
  appId: string;
  signName: string;
  templateId: string;
  params: string[];
  sessionContext: string;
  serialNo: string;
  at: number;
}

/**
 * What the next SendSms does: deliver ('ok'), never answer ('timeout'),
 * deliver and answer only when released ('hold'), answer a request-level
 * Response.Error with this code ({ error }), or refuse the number with this
 * per-number code in SendStatusSet ({ status }), or answer HTTP 5xx.
 */
export type TencentOutcome = 'ok' | 'timeout' | 'hold' | 'http502' | { error: string } | { status: string };

const VERSION = '2021-01-11';

/**
 * A fake of Tencent Cloud SMS API 3.0 (sms.tencentcloudapi.com). Like the
 * real server it recomputes the TC3-HMAC-SHA256 signature from the raw
 * request (method, path, query, the signed headers as received, the body's
 * hash) with the SecretKey of the SecretId in the Credential, refuses
 * timestamps more than 5 minutes off, checks the common X-TC-* headers and
 * SendSms's parameters, and answers with Tencent's shapes: HTTP 200 with
 * Response.Error for request-level failures, SendStatusSet with one entry
 * per number otherwise. PullSmsSendStatusByPhoneNumber lists receipts of
 * what was delivered, with the SessionContext sent.
 */
export async function startTencentFake(opts: { keys?: Record<string, string>; appId?: string } = {}) {
  const keys = opts.keys ?? { AKIDtest: 'tencent-secret' };
  const appId = opts.appId ?? '1400006666';
  const sent: TencentSent[] = [];
  const script: TencentOutcome[] = [];
  const onSend: Array<(s: TencentSent) => void> = [];
  let held: ReturnType<typeof gate> | null = null;

  const fail = (Code: string, Message: string): Reply => ({ json: { Response: { Error: { Code, Message }, RequestId: randomUUID() } } });
  const header = (req: FakeRequest, name: string) => {
    const v = req.headers[name];
    return Array.isArray(v) ? v.join(',') : v;
  };

  /** The server's side of the signature: null when it holds, else the error reply. */
  function verify(req: FakeRequest): Reply | null {
    const auth = parseTc3Authorization(header(req, 'authorization') ?? '');
    if (!auth) return fail('AuthFailure.InvalidAuthorization', 'Authorization in the request header is invalid.');
    const secret = keys[auth.secretId];
    if (!secret) return fail('AuthFailure.SecretIdNotFound', 'The SecretId is not found, please ensure that your SecretId is correct.');
    const timestamp = Number(header(req, 'x-tc-timestamp'));
    if (!Number.isInteger(timestamp)) return fail('MissingParameter', 'The request is missing a required parameter `Timestamp`.');
    if (Math.abs(timestamp - Date.now() / 1000) > 300) return fail('AuthFailure.SignatureExpire', 'Signature expired. Timestamp and server time cannot differ by more than five minutes.');
    if (!auth.signedHeaders.includes('content-type') || !auth.signedHeaders.includes('host'))
      return fail('AuthFailure.InvalidAuthorization', 'content-type and host must be signed.');
    const signed: Record<string, string> = {};
    for (const name of auth.signedHeaders) {
      const v = header(req, name);
      if (v === undefined) return fail('AuthFailure.SignatureFailure', `signed header ${name} is absent`);
      signed[name] = v;
    }
    const expected = tc3Sign(
      { method: req.method, path: req.path, query: req.query.toString(), headers: signed, payload: req.body, service: auth.service, timestamp },
      auth.secretId,
      secret,
    );
    if (auth.service !== 'sms' || auth.date !== utcDate(timestamp) || expected.signature !== auth.signature)
      return fail('AuthFailure.SignatureFailure', 'The provided credentials could not be validated. Please check your signature is correct.');
    return null;
  }

  function sendSms(body: Record<string, unknown>): Reply {
    const phones = body.PhoneNumberSet;
    if (!Array.isArray(phones) || phones.length === 0) return fail('MissingParameter.EmptyPhoneNumberSet', '传入的号码列表为空');
    if (phones.length > 200) return fail('LimitExceeded.PhoneNumberCountLimit', '单次提交的手机号个数超过200个');
    if (typeof body.SmsSdkAppId !== 'string' || !body.SmsSdkAppId) return fail('MissingParameter', 'The request is missing a required parameter `SmsSdkAppId`.');
    if (body.SmsSdkAppId !== appId) return fail('UnauthorizedOperation.SmsSdkAppIdVerifyFail', 'SmsSdkAppId 校验失败');
    if (typeof body.TemplateId !== 'string' || !body.TemplateId) return fail('MissingParameter', 'The request is missing a required parameter `TemplateId`.');
    const params = body.TemplateParamSet ?? [];
    if (!Array.isArray(params) || params.some((p) => typeof p !== 'string')) return fail('InvalidParameter', 'TemplateParamSet must be an array of strings.');
    if (body.SessionContext !== undefined && (typeof body.SessionContext !== 'string' || Buffer.byteLength(body.SessionContext) >= 512))
      return fail('InvalidParameterValue', 'SessionContext must be a string under 512 bytes.');

    const outcome = script.shift() ?? 'ok';
    if (outcome === 'timeout') return { hang: true };
    if (outcome === 'http502') return { status: 502, json: undefined };
    if (typeof outcome === 'object' && 'error' in outcome) return fail(outcome.error, `scripted ${outcome.error}`);
    const statuses = phones.map((phone) => {
      const base = { PhoneNumber: String(phone), SessionContext: String(body.SessionContext ?? ''), IsoCode: 'CN' };
      if (typeof phone !== 'string' || !/^\+\d{6,15}$/.test(phone))
        return { ...base, SerialNo: '', Fee: 0, Code: 'InvalidParameterValue.IncorrectPhoneNumber', Message: 'incorrect number' };
      if (typeof outcome === 'object' && 'status' in outcome) return { ...base, SerialNo: '', Fee: 0, Code: outcome.status, Message: `scripted ${outcome.status}` };
      const record: TencentSent = {
        phone,
        appId: body.SmsSdkAppId as string,
        signName: String(body.SignName ?? ''),
        templateId: body.TemplateId as string,
        params: params as string[],
        sessionContext: String(body.SessionContext ?? ''),
        serialNo: `2028:${randomUUID()}`,
        at: Math.floor(Date.now() / 1000),
      };
      sent.push(record);
      onSend.forEach((f) => f(record));
      return { ...base, SerialNo: record.serialNo, Fee: 1, Code: 'Ok', Message: 'send success' };
    });
    const reply: Reply = { json: { Response: { SendStatusSet: statuses, RequestId: randomUUID() } } };
    return outcome === 'hold' && held ? { ...reply, after: held.promise } : reply;
  }

  function pullByPhone(body: Record<string, unknown>): Reply {
    for (const k of ['BeginTime', 'Offset', 'Limit', 'PhoneNumber', 'SmsSdkAppId'])
      if (body[k] === undefined) return fail('MissingParameter', `The request is missing a required parameter \`${k}\`.`);
    if (body.SmsSdkAppId !== appId) return fail('UnauthorizedOperation.SmsSdkAppIdVerifyFail', 'SmsSdkAppId 校验失败');
    if (body.Offset !== 0) return fail('InvalidParameterValue.OffsetVerifyFail', '参数 Offset 校验失败');
    if (typeof body.Limit !== 'number' || body.Limit < 1 || body.Limit > 100) return fail('InvalidParameterValue.LimitVerifyFail', '参数 Limit 校验失败');
    const begin = Number(body.BeginTime);
    const end = body.EndTime === undefined ? Infinity : Number(body.EndTime);
    if (begin < Date.now() / 1000 - 7 * 86_400) return fail('InvalidParameterValue.BeginTimeVerifyFail', '参数 BeginTime 校验失败');
    const rows = sent
      .filter((s) => s.phone === body.PhoneNumber && s.at >= begin && s.at <= end)
      .slice(0, body.Limit)
      .map((s) => ({
        UserReceiveTime: new Date((s.at + 8 * 3600) * 1000).toISOString().replace('T', ' ').slice(0, 19),
        CountryCode: '86',
        SubscriberNumber: s.phone.replace(/^\+86/, ''),
        PhoneNumber: s.phone,
        SerialNo: s.serialNo,
        ReportStatus: 'SUCCESS',
        Description: '用户短信送达成功',
        SessionContext: s.sessionContext,
      }));
    return { json: { Response: { PullSmsSendStatusSet: rows, RequestId: randomUUID() } } };
  }

  const fake: HttpFake = await startHttpFake((req) => {
    if (req.method !== 'POST') return fail('InvalidParameter', 'only POST is used here');
    const denied = verify(req);
    if (denied) return denied;
    if (header(req, 'x-tc-version') !== VERSION) return fail('NoSuchVersion', 'The requested version does not exist.');
    if (!header(req, 'x-tc-region')) return fail('MissingParameter', 'The request is missing a required parameter `Region`.');
    if (!/^application\/json/.test(header(req, 'content-type') ?? '')) return fail('InvalidParameter', 'content-type');
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(req.body);
    } catch {
      return fail('FailedOperation.JsonParseFail', '解析请求包体时候失败');
    }
    const action = header(req, 'x-tc-action');
    if (action === 'SendSms') return sendSms(body);
    if (action === 'PullSmsSendStatusByPhoneNumber') return pullByPhone(body);
    return fail('InvalidAction', `The action ${action} does not exist.`);
  });

  return {
    ...fake,
    endpoint: fake.url,
    appId,
    sent,
    onSend,
    /** what the next SendSms calls do, in order ('ok' once the list is empty) */
    next(...outcomes: TencentOutcome[]) {
      script.push(...outcomes);
    },
    /** the next send is delivered but its answer waits until the gate opens */
    hold() {
      held = gate();
      script.push('hold');
      return held;
    },
  };
}
