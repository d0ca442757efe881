import { EXTERNAL_CHANNELS, type ExternalChannel } from '../../queues/jobs.js';
import type { Config } from '../config.js';
import { SmtpProvider } from './email/smtp.js';
import { FeishuProvider } from './feishu/feishu.js';
import { PushProvider } from './push/push.js';
import { AliyunSmsProvider } from './sms/aliyun.js';
import { TencentSmsProvider } from './sms/tencent.js';
import type { ChannelProvider } from './types.js';
import { WebhookProvider } from './webhook/webhook.js';
import { WecomProvider } from './wechat/wecom.js';

/** The adapter of a channel, built from the environment (each channel has one vendor today). */
export function createProvider(channel: ExternalChannel, config: Config): ChannelProvider {
  switch (channel) {
    case 'email':
      return new SmtpProvider(config);
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
