import { EXTERNAL_CHANNELS, type ExternalChannel } from '../../queues/jobs.js';
import type { Config } from '../config.js';
import type { Orm } from '../db/orm.js';
import { SmtpProvider } from './email/smtp.js';
import type { AttachmentLoader } from '../domain/attachments/source.js';
import { FeishuProvider } from './feishu/feishu.js';
import { OutboxProvider } from './outbox.js';
import { PushProvider } from './push/push.js';
import { AliyunSmsProvider } from './sms/aliyun.js';
import { TencentSmsProvider } from './sms/tencent.js';
import type { ChannelProvider } from './types.js';
import { WebhookProvider } from './webhook/webhook.js';
import { WecomProvider } from './wechat/wecom.js';

/**
 * The adapter of a channel, built from the environment (each channel has one vendor today).
 * `attachments` reads the files of email notifications (a worker process passes it; without it emails carry none).
 */
export function createProvider(channel: ExternalChannel, config: Config, extra: { attachments?: AttachmentLoader } = {}): ChannelProvider {
  switch (channel) {
    case 'email':
      return new SmtpProvider(config, extra.attachments);
    case 'sms':
      return config.SMS_PROVIDER === 'tencent' ? new TencentSmsProvider(config) : new AliyunSmsProvider(config);
    case 'wechat':
      return new WecomProvider(config);
    case 'feishu':
      return new FeishuProvider(config);
    case 'push':
      // FCM tokens through FCM, Apple tokens straight to APNs
      return PushProvider.fromConfig(config);
    case 'webhook':
      return new WebhookProvider(config);
  }
}

/**
 * The provider a process delivers through. With NODE_ENV=development a
 * channel without credentials stores its messages in the development outbox
 * (GET /admin/outbox) and records them sent, so Herald works out of the box
 * on a developer's machine; in production and test it is the channel's
 * adapter as is, and an unconfigured channel fails with not_configured.
 */
export function createSendingProvider(channel: ExternalChannel, config: Config, orm: Orm, extra: { attachments?: AttachmentLoader } = {}): ChannelProvider {
  const provider = createProvider(channel, config, extra);
  return config.NODE_ENV === 'development' && provider.missing.length ? new OutboxProvider(orm, provider) : provider;
}

export function isExternal(channel: string): channel is ExternalChannel {
  return (EXTERNAL_CHANNELS as readonly string[]).includes(channel);
}

/** The per-second send limit of each channel's queue (BullMQ limiter). */
export function rateLimitOf(channel: ExternalChannel, config: Config): number {
  return {
    email: config.EMAIL_RATE_PER_SEC,
    sms: config.SMS_RATE_PER_SEC,
    wechat: config.WECHAT_RATE_PER_SEC,
    feishu: config.FEISHU_RATE_PER_SEC,
    push: config.PUSH_RATE_PER_SEC,
    webhook: config.WEBHOOK_RATE_PER_SEC,
  }[channel];
}
