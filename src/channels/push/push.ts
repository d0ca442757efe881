import type { Config } from '../../config.js';
import { DeliveryError, classifyUnknown, permanent, type ChannelProvider, type OutgoingMessage, type SendResult } from '../types.js';
import { APNS_PREFIX, splitPushAddress } from './address.js';
import { ApnsProvider, type ApnsOptions } from './apns.js';
import { FcmProvider } from './fcm.js';
import { anyDelivered } from './outcomes.js';

/** A platform's rejected tokens named as they are in the push address. */
const renamed = (rejected: string[] | undefined, prefix: string) => rejected?.map((t) => prefix + t);

/**
 * The push channel: FCM tokens go through FCM, Apple tokens straight to
 * APNs, both at once; the delivery counts as sent when any device took it,
 * and the tokens either platform called dead come back in `rejected`.
 * Configured when either platform is; a token of a platform that is not
 * fails that part with not_configured.
 */
export class PushProvider implements ChannelProvider {
  readonly channel = 'push' as const;
  readonly vendor: string;
  /** empty when either platform is configured; else what FCM needs (FCM alone reaches Android and iOS) */
  readonly missing: string[];
  private readonly platforms: Array<{ provider: ChannelProvider; prefix: string; pick: (a: ReturnType<typeof splitPushAddress>) => string[] }>;

  constructor(
    readonly fcm: ChannelProvider,
    readonly apns: ChannelProvider,
  ) {
    this.platforms = [
      { provider: fcm, prefix: '', pick: (a) => a.fcm },
      { provider: apns, prefix: APNS_PREFIX, pick: (a) => a.apns },
    ];
    const configured = this.platforms.filter((p) => !p.provider.missing.length).map((p) => p.provider.vendor);
    this.vendor = configured.join('+') || fcm.vendor;
    this.missing = configured.length ? [] : fcm.missing;
  }

  static fromConfig(config: Config, apnsOptions: ApnsOptions = {}): PushProvider {
    return new PushProvider(new FcmProvider(config), new ApnsProvider(config, apnsOptions));
  }

  private async part(provider: ChannelProvider, prefix: string, m: OutgoingMessage, devices: string[], signal: AbortSignal): Promise<SendResult> {
    if (provider.missing.length)
      throw permanent('not_configured', `${provider.vendor} is not configured: set ${provider.missing.join(', ')}`, { reason: 'not_configured' });
    try {
      const result = await provider.send({ ...m, address: devices.join(',') }, signal);
      return { ...result, rejected: renamed(result.rejected, prefix), note: result.note ? `${provider.vendor}: ${result.note}` : null };
    } catch (err) {
      const e = provider.classify(err);
      throw new DeliveryError(e.kind, e.code, e.message, { ...e.opts, rejected: renamed(e.opts.rejected, prefix) });
    }
  }

  send(m: OutgoingMessage, signal: AbortSignal): Promise<SendResult> {
    const address = splitPushAddress(m.address);
    const parts = this.platforms.flatMap(({ provider, prefix, pick }) => {
      const devices = pick(address);
      return devices.length ? [this.part(provider, prefix, m, devices, signal)] : [];
    });
    return anyDelivered(parts);
  }

  /** Checks each configured platform (both, even when one fails); throws naming every platform that failed. */
  async verify(signal: AbortSignal): Promise<string> {
    const configured = this.platforms.filter((p) => !p.provider.missing.length);
    const results = await Promise.allSettled(
      configured.map((p) => (p.provider.verify ? p.provider.verify(signal) : Promise.resolve('nothing to check'))),
    );
    const lines = results.map((r, i) => {
      const vendor = configured[i].provider.vendor;
      if (r.status === 'fulfilled') return `${vendor}: ${r.value}`;
      const e = configured[i].provider.classify(r.reason);
      return `${vendor} failed: ${e.code}: ${e.message}`;
    });
    const failed = results.findIndex((r) => r.status === 'rejected');
    if (failed >= 0) {
      const e = configured[failed].provider.classify((results[failed] as PromiseRejectedResult).reason);
      throw new DeliveryError(e.kind, e.code, lines.join('; '), e.opts);
    }
    return lines.join('; ');
  }

  classify(err: unknown): DeliveryError {
    return classifyUnknown(err);
  }

  async close(): Promise<void> {
    // both, even when one fails
    const results = await Promise.allSettled([this.fcm.close?.(), this.apns.close?.()]);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }
}
