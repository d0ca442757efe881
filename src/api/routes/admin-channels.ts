import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { z } from 'zod';
import type { ExternalChannel } from '../../../queues/jobs.js';
import { createSendingProvider, isExternal } from '../../channels/index.js';
import { OutboxProvider } from '../../channels/outbox.js';
import type { ChannelProvider, OutgoingMessage } from '../../channels/types.js';
import { classifyAddress } from '../../domain/delivery/recipients.js';
import { fieldErrors } from '../../domain/sending/input.js';
import { NotFoundError, UnprocessableError, ValidationError } from '../../errors.js';
import { readJson } from '../body.js';
import type { ApiDeps, ApiEnv } from '../env.js';
import { bodyLimit } from '../middleware/body-limit.js';
import { requireAdminToken } from './admin-token.js';

export const CHANNEL_TEST_PATH = '/admin/channels/:channel/test';

/** POST /admin/channels/:channel/test body (it may be left out: the credentials are checked, nothing is sent). */
export const channelTestBody = z.strictObject({
  to: z
    .string()
    .trim()
    .min(1)
    .max(4096)
    .optional()
    .meta({ description: "an address of the channel (an email, a phone number, a WeCom user id, a Feishu id or email, a push token, an http(s) URL): a test message is sent to it" }),
});

/** What the self-test found, step by step; 200 whatever the steps found. */
export interface ChannelTestReport {
  channel: ExternalChannel;
  /** the channel's adapter (smtp, aliyun, tencent, wecom, feishu, fcm, apns, fcm+apns, webhook) */
  vendor: string;
  configured: boolean;
  /** the variables the channel lacks */
  missing: string[];
  /** ok null: the channel has nothing to check with a provider (webhook) */
  credentials: { ok: boolean | null; detail: string };
  send?: { ok: boolean; provider_message_id?: string | null; error?: string };
}

/** Why a step failed, as the adapter classifies it: its provider's code and message. */
const failure = (provider: ChannelProvider, err: unknown) => {
  const e = provider.classify(err);
  return `${e.code}: ${e.message}`;
};

/** The credential step: not configured, nothing to check, or the provider's own answer. */
async function checkCredentials(adapter: ChannelProvider, outbox: boolean, timeoutMs: number): Promise<ChannelTestReport['credentials']> {
  if (adapter.missing.length) {
    const instead = outbox ? '; with NODE_ENV=development its messages go to the outbox (GET /admin/outbox)' : '';
    return { ok: false, detail: `not configured: set ${adapter.missing.join(', ')}${instead}` };
  }
  if (!adapter.verify)
    return {
      ok: null,
      detail: `${adapter.vendor} has no provider to check credentials with (the secret signs Herald's own requests): send a test message with \`to\` to check a receiver`,
    };
  try {
    return { ok: true, detail: await adapter.verify(AbortSignal.timeout(timeoutMs)) };
  } catch (err) {
    return { ok: false, detail: failure(adapter, err) };
  }
}

/**
 * POST /admin/channels/:channel/test (admin): is this channel's provider
 * reachable with the credentials this deployment has? It checks them
 * without sending (the adapter's `verify`) and, with `to`, sends a test
 * message through the same adapter the channel worker uses. Providers are
 * built for the request and closed after it; the api never holds one.
 */
export function adminChannelRoutes(deps: ApiDeps) {
  const app = new Hono<ApiEnv>();
  const timeoutMs = deps.config.PROVIDER_TIMEOUT_MS;

  app.post(CHANNEL_TEST_PATH, requireAdminToken(deps.verifier), bodyLimit(16 * 1024), async (c) => {
    const channel = c.req.param('channel');
    if (!isExternal(channel)) throw new NotFoundError(`There is no channel ${channel}: the channels are email, sms, wechat, feishu, push and webhook.`);
    const raw = await c.req.text();
    const parsed = channelTestBody.safeParse(raw.trim() ? await readJson(c) : {});
    if (!parsed.success) throw new ValidationError(fieldErrors(parsed.error));
    const to = parsed.data.to;
    const address = to === undefined ? undefined : classifyAddress(to, channel);
    if (address === null)
      throw new UnprocessableError(`'to' is not a ${channel} address.`, [{ path: 'to', message: `is not a ${channel} address` }]);

    const who = c.get('principal');
    const provider = createSendingProvider(channel, deps.config, deps.orm);
    const outbox = provider instanceof OutboxProvider;
    const adapter = outbox ? provider.adapter : provider;
    try {
      const report: ChannelTestReport = {
        channel,
        vendor: adapter.vendor,
        configured: adapter.missing.length === 0,
        missing: adapter.missing,
        credentials: await checkCredentials(adapter, outbox, timeoutMs),
      };
      if (address !== undefined) {
        if (provider.missing.length) report.send = { ok: false, error: `not_configured: set ${provider.missing.join(', ')}` };
        else {
          const message: OutgoingMessage = {
            title: 'Herald test message',
            content: `A test of the ${channel} channel (${adapter.vendor}), asked for by ${who.sub} at ${new Date().toISOString()}.`,
            type: 'info',
            priority: 'normal',
            metadata: { herald_test: true },
            created_at: new Date().toISOString(),
            deliveryId: randomUUID(),
            notificationId: randomUUID(),
            tenant: who.tenant,
            address,
          };
          try {
            const result = await provider.send(message, AbortSignal.timeout(timeoutMs));
            report.send = { ok: true, provider_message_id: result.providerMessageId };
          } catch (err) {
            report.send = { ok: false, error: failure(provider, err) };
          }
        }
      }
      c.get('logger').info({ channel, vendor: report.vendor, credentials_ok: report.credentials.ok, send_ok: report.send?.ok }, 'channel self-test');
      return c.json(report);
    } finally {
      await provider.close?.().catch((err: unknown) => c.get('logger').warn({ err }, 'closing the self-test provider failed'));
    }
  });
  return app;
}
