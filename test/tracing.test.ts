/**
 * OpenTelemetry traces, one per notification: the api, the ingest worker
 * and the SMS and email workers (in this process, tracing set up as a
 * process entry sets it up) export to a local OTLP/HTTP receiver, and the
 * spans it gets must form one tree per notification: api request →
 * enqueue → ingest (store, publish) → one span per delivery attempt, with
 * the provider call inside, retries and fallbacks in the same trace. No
 * span may carry an address, a title or a content.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Lifecycle } from '../src/lifecycle.js';
import { ATTR } from '../src/tracing/attributes.js';
import { stampDrafts } from '../src/tracing/job-context.js';
import { setupTracing, type Tracing } from '../src/tracing/setup.js';
import { inSpan } from '../src/tracing/spans.js';
import type { NotificationDraft } from '../queues/jobs.js';
import { startAliyunFake } from './fakes/aliyun-sms.js';
import { startSmtpServer } from './fakes/smtp.js';
import { deliveriesOf, startChannelWorker } from './helpers/channels.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';

interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  attributes: Record<string, unknown>;
  status: { code?: number; message?: string };
}

const STATUS_ERROR = 2;
const PHONE = '13900001234';
const EMAIL = `trace-${Date.now()}@example.com`;
const TITLE = '库存预警 secret-title';
const CONTENT = '鸡肉库存不足 secret-content';

/** A local OTLP/HTTP receiver: POST /v1/traces with the exporter's JSON, every span kept. */
async function startReceiver(): Promise<{ url: string; spans: ReceivedSpan[]; raw: string[]; close(): Promise<void> }> {
  const spans: ReceivedSpan[] = [];
  const raw: string[] = [];
  const value = (v: Record<string, unknown>) => v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.boolValue ?? v.doubleValue));
  const attrs = (list: Array<{ key: string; value: Record<string, unknown> }> = []) => Object.fromEntries(list.map((a) => [a.key, value(a.value)]));
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') return void res.writeHead(404).end();
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      const text = body.toString('utf8');
      raw.push(text);
      const doc = JSON.parse(text) as { resourceSpans: any[] };
      for (const rs of doc.resourceSpans) {
        const service = String(attrs(rs.resource?.attributes)['service.name']);
        for (const ss of rs.scopeSpans ?? [])
          for (const s of ss.spans ?? [])
            spans.push({ service, traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId ?? '', name: s.name, attributes: attrs(s.attributes), status: s.status ?? {} });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    raw,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('tracing off (OTEL_EXPORTER_OTLP_ENDPOINT unset)', () => {
  test('a span call only runs its function: no attributes built, no context written into job data', async () => {
    let built = 0;
    const seen = await inSpan('x', () => (built++, {}), async (span) => span);
    expect(seen).toBeUndefined();
    expect(built).toBe(0);
    const draft = { id: 'n-1' } as NotificationDraft;
    stampDrafts([draft]);
    expect(draft).toEqual({ id: 'n-1' });
  });
});

describe('tracing on', () => {
  let h: Harness;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let aliyun: Awaited<ReturnType<typeof startAliyunFake>>;
  let tracing: Tracing;
  const tracingLife = new Lifecycle();
  let svc: string;
  const user = uniq('u-trace');

  beforeAll(async () => {
    receiver = await startReceiver();
    tracing = setupTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: 'herald' }, 'test', tracingLife)!;
    h = await createHarness();
    aliyun = await startAliyunFake({ LTAItrace: 'trace-secret' });
    const smtp = await startSmtpServer();
    h.life.add('fakes', async () => {
      await aliyun.close();
      await smtp.close();
    });
    await h.startIngest();
    await startChannelWorker(h, 'sms', {
      ALIYUN_ACCESS_KEY: 'LTAItrace',
      ALIYUN_ACCESS_SECRET: 'trace-secret',
      ALIYUN_SMS_SIGN: '智链OS',
      ALIYUN_SMS_TEMPLATE_CODE: 'SMS_1',
      ALIYUN_SMS_ENDPOINT: aliyun.endpoint,
    });
    await startChannelWorker(h, 'email', { SMTP_HOST: smtp.host, SMTP_PORT: String(smtp.port), SMTP_FROM: 'noreply@herald.test' });
    svc = await h.serviceToken();
    const put = await h.request('PUT', `/api/v1/recipients/${user}`, { token: svc, body: { phone: PHONE, email: EMAIL } });
    expect(put.status).toBe(200);
  });
  afterAll(async () => {
    await h?.close();
    await tracingLife.close();
    await receiver?.close();
  });

  const send = async (body: Record<string, unknown>) => {
    const r = await h.request('POST', '/api/v1/notifications', { token: svc, body: { title: TITLE, content: CONTENT, user_id: user, ...body } });
    expect(r.status).toBe(202);
    return r.body.id as string;
  };

  /** Waits until the deliveries of a notification are final and `want` says its trace holds the spans expected, and returns that trace. */
  async function traceOf(id: string, want: (spans: ReceivedSpan[]) => boolean): Promise<ReceivedSpan[]> {
    await waitFor(async () => {
      const rows = await deliveriesOf(h, id);
      return rows.length > 0 && rows.every((r) => ['sent', 'failed', 'skipped'].includes(r.status));
    }, 30_000, `deliveries of ${id} to settle`);
    return waitFor(async () => {
      await tracing.flush();
      const api = receiver.spans.find((s) => s.name === 'POST /notifications' && s.attributes[ATTR.notificationId] === id);
      if (!api) return null;
      const spans = receiver.spans.filter((s) => s.traceId === api.traceId);
      return want(spans) ? spans : null;
    }, 15_000, `the spans of ${id}`);
  }

  const only = (spans: ReceivedSpan[], name: string, parent: ReceivedSpan) => {
    const found = spans.filter((s) => s.name === name && s.parentSpanId === parent.spanId);
    expect(found, `one ${name} under ${parent.name}`).toHaveLength(1);
    return found[0];
  };

  test('an SMS that fails once and is retried is one trace: api → enqueue → ingest → two attempts, each with its provider call', async () => {
    aliyun.script.push('http500');
    const id = await send({ channels: ['sms'] });
    const spans = await traceOf(id, (list) => list.filter((s) => s.name === 'deliver sms').length >= 2);

    const api = spans.find((s) => s.name === 'POST /notifications')!;
    expect(api.parentSpanId).toBe('');
    expect(api.attributes).toMatchObject({ [ATTR.tenant]: h.tenant, [ATTR.notificationId]: id, 'http.route': '/api/v1/notifications' });
    const enqueue = only(spans, 'enqueue', api);
    const ingest = only(spans, 'ingest', enqueue);
    expect(ingest.attributes).toMatchObject({ [ATTR.notificationId]: id, [ATTR.notificationCount]: 1 });
    only(spans, 'store', ingest);
    only(spans, 'publish', ingest);

    const attempts = spans.filter((s) => s.name === 'deliver sms').sort((a, b) => Number(a.attributes[ATTR.attempt]) - Number(b.attributes[ATTR.attempt]));
    expect(attempts.map((s) => s.parentSpanId)).toEqual([ingest.spanId, ingest.spanId]);
    expect(attempts[0].attributes).toMatchObject({ [ATTR.attempt]: 1, [ATTR.outcome]: 'retrying', [ATTR.channel]: 'sms', [ATTR.notificationId]: id });
    expect(attempts[0].status.code).toBe(STATUS_ERROR);
    const [row] = await deliveriesOf(h, id);
    expect(attempts[1].attributes).toMatchObject({ [ATTR.attempt]: 2, [ATTR.outcome]: 'sent', [ATTR.providerMessageId]: row.provider_message_id });
    expect(attempts[1].status.code).not.toBe(STATUS_ERROR);
    const calls = attempts.map((a) => only(spans, 'provider aliyun', a));
    expect(calls[0].status.code).toBe(STATUS_ERROR);
    expect(calls[1].attributes[ATTR.providerMessageId]).toBe(row.provider_message_id);
    expect(new Set(spans.map((s) => s.service))).toEqual(new Set(['herald-test']));
  });

  test('an SMS that fails for good falls back to email in the same trace, the email attempt under the failed one', async () => {
    aliyun.script.push('permanent');
    const id = await send({ channels: ['sms'], fallback_channels: ['email'] });
    const spans = await traceOf(id, (list) => list.some((s) => s.name === 'deliver email' && s.attributes[ATTR.outcome]));

    const api = spans.find((s) => s.name === 'POST /notifications')!;
    const ingest = only(spans, 'ingest', only(spans, 'enqueue', api));
    const sms = only(spans, 'deliver sms', ingest);
    expect(sms.attributes).toMatchObject({ [ATTR.attempt]: 1, [ATTR.outcome]: 'failed', [ATTR.reason]: 'permanent', [ATTR.fallback]: false });
    expect(sms.status.code).toBe(STATUS_ERROR);
    const email = only(spans, 'deliver email', sms);
    expect(email.attributes).toMatchObject({ [ATTR.outcome]: 'sent', [ATTR.fallback]: true, [ATTR.notificationId]: id });
    only(spans, 'provider smtp', email);
  });

  test('a scheduled notification fires in the trace of the send that scheduled it', async () => {
    const id = await send({ channels: ['sms'], schedule_at: new Date(Date.now() + 1500).toISOString() });
    const spans = await traceOf(id, (list) => list.some((s) => s.name === 'deliver sms' && s.attributes[ATTR.outcome]));
    const api = spans.find((s) => s.name === 'POST /notifications')!;
    const enqueue = only(spans, 'enqueue', api);
    const fire = only(spans, 'fire', enqueue);
    expect(fire.attributes).toMatchObject({ [ATTR.notificationId]: id });
    only(spans, 'publish', fire);
    expect(only(spans, 'deliver sms', fire).attributes).toMatchObject({ [ATTR.outcome]: 'sent' });
  });

  test("a request carrying the caller's traceparent continues the caller's trace", async () => {
    const callerTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const callerSpan = '00f067aa0ba902b7';
    const res = await h.app.request('/api/v1/notifications', {
      method: 'POST',
      headers: { authorization: `Bearer ${svc}`, 'content-type': 'application/json', traceparent: `00-${callerTrace}-${callerSpan}-01` },
      body: JSON.stringify({ title: TITLE, content: CONTENT, user_id: user, channels: ['app'] }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const api = await waitFor(async () => {
      await tracing.flush();
      return receiver.spans.find((s) => s.name === 'POST /notifications' && s.attributes[ATTR.notificationId] === id) ?? null;
    }, 15_000, 'the request span');
    expect(api.traceId).toBe(callerTrace);
    expect(api.parentSpanId).toBe(callerSpan);
  });

  test('a bulk request is one span that counts its notifications; its chunk is one ingest span', async () => {
    const notifications = [1, 2, 3].map((i) => ({ title: TITLE, content: `${CONTENT} ${i}`, user_id: user, channels: ['app'] }));
    const r = await h.request('POST', '/api/v1/notifications/bulk', { token: svc, body: { notifications } });
    expect(r.status).toBe(202);
    const spans = await waitFor(async () => {
      await tracing.flush();
      const api = receiver.spans.find((s) => s.name === 'POST /notifications/bulk');
      const list = api ? receiver.spans.filter((s) => s.traceId === api.traceId) : [];
      return list.some((s) => s.name === 'publish') ? list : null;
    }, 15_000, 'the bulk request spans');
    const api = spans.find((s) => s.name === 'POST /notifications/bulk')!;
    expect(api.attributes[ATTR.notificationCount]).toBe(3);
    expect(api.attributes[ATTR.notificationId]).toBeUndefined();
    const ingest = only(spans, 'ingest', only(spans, 'enqueue', api));
    expect(ingest.attributes[ATTR.notificationCount]).toBe(3);
  });

  test('no span carries an address, a title or a content', () => {
    expect(receiver.spans.length).toBeGreaterThan(10);
    const everything = receiver.raw.join('\n');
    const secrets = { phone: PHONE, email: EMAIL, title: 'secret-title', content: 'secret-content', token: svc };
    for (const [what, secret] of Object.entries(secrets)) expect(everything.includes(secret), `an exported span carries the ${what}`).toBe(false);
  });
});
