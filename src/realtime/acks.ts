import type { Orm } from '../db/orm.js';
import type { Logger } from '../logger.js';
import { deliveryDuration, notificationSent } from '../metrics/metrics.js';

/**
 * Records `{"type":"ack","id"}` from devices. Acks arrive one per frame per
 * device, so they are gathered for a few ms and written with one INSERT. Only
 * notifications that are in the acking user's inbox are recorded (an id the
 * user cannot see is ignored, like everywhere else). A first ack counts as an
 * `app` delivery in the metrics, timed from the notification's creation.
 */
export interface PendingAck {
  tenant: string;
  user_id: string;
  /** the user's audiences (audiencesOf), to check the notification is theirs */
  audiences: string[];
  id: string;
}

export interface AckRecorderOptions {
  /** ms acks wait to be written together (default 20) */
  flushMs?: number;
  /** most acks per INSERT (default 1000) */
  batchMax?: number;
}

export class AckRecorder {
  private pending: PendingAck[] = [];
  private timer?: NodeJS.Timeout;
  private inflight = new Set<Promise<void>>();
  private readonly flushMs: number;
  private readonly batchMax: number;

  constructor(
    private readonly deps: { orm: Orm; logger: Logger },
    opts: AckRecorderOptions = {},
  ) {
    this.flushMs = opts.flushMs ?? 20;
    this.batchMax = opts.batchMax ?? 1000;
  }

  add(ack: PendingAck): void {
    this.pending.push(ack);
    if (this.pending.length >= this.batchMax) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.flushMs);
  }

  /** Writes what is pending now; resolves when every write started so far has finished. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending.splice(0, this.pending.length);
    if (batch.length) {
      const p = this.write(batch)
        .catch((err) => this.deps.logger.warn({ err, acks: batch.length }, 'could not record acks'))
        .finally(() => this.inflight.delete(p));
      this.inflight.add(p);
    }
    return Promise.all(this.inflight).then(() => undefined);
  }

  private async write(batch: PendingAck[]): Promise<void> {
    const em = this.deps.orm.em.fork();
    const rows = await em.execute<Array<{ created_at: Date; inserted: boolean }>>(
      `insert into notification_acks as a (tenant, user_id, notification_id, acks)
       select x.tenant, x.user_id, n.id, count(*)
       from json_to_recordset(?::json) as x(tenant text, user_id text, id uuid, audiences text[])
       join notifications n on n.id = x.id and n.tenant = x.tenant and n.audience = any(x.audiences) and n.seq is not null
       group by 1, 2, 3
       on conflict (tenant, notification_id, user_id)
         do update set last_acked_at = now(), acks = a.acks + excluded.acks
       returning (xmax = 0) as inserted,
         (select created_at from notifications where id = a.notification_id) as created_at`,
      [JSON.stringify(batch)],
    );
    const now = Date.now();
    for (const r of rows) {
      if (!r.inserted) continue;
      notificationSent.inc({ channel: 'app' });
      deliveryDuration.observe({ channel: 'app' }, Math.max(0, now - new Date(r.created_at).getTime()) / 1000);
    }
  }
}
