/**
 * A steady stream of single sends through the HTTP api, as several backend
 * services would make it: `rate` requests per second in all, spread evenly
 * over the tenants, each to the next of its tenant's users, some also on an
 * external channel. Every send is marked (metadata.row, metadata.seq, and a
 * title naming both) so PostgreSQL and the providers' records can be matched
 * to it later, and every answer is kept with its time: 202 with the id,
 * another status, or no answer (connection refused or cut, or no answer
 * within the timeout).
 */
import type { ExternalChannel } from '../../queues/jobs.js';

export interface SendTenant {
  tenant: string;
  /** a service token of the tenant (notify:send) */
  token: string;
  users: string[];
}

export interface SendRecord {
  seq: string;
  tenant: string;
  user: string;
  channel: ExternalChannel | null;
  /** ms since the epoch */
  issued: number;
  answered: number;
  /** the HTTP status, or 0 when no answer came */
  status: number;
  /** why a send was not accepted: 'http 503', 'ECONNREFUSED', 'timeout', … */
  why?: string;
  id?: string;
}

export const titleOf = (row: string, seq: string) => `fault ${row} #${seq}`;

export interface SendLoadOptions {
  apiUrl: string;
  tenants: SendTenant[];
  row: string;
  /** sends per second in all */
  rate: number;
  /** the external channel of the n-th send, or null for the inbox alone */
  channelOf: (n: number) => ExternalChannel | null;
  /** a send with no answer after this long counts as unanswered (default 15 s) */
  timeoutMs?: number;
}

export class SendLoad {
  readonly sends: SendRecord[] = [];
  private timer?: NodeJS.Timeout;
  private inFlight = new Set<Promise<void>>();
  private n = 0;

  constructor(private readonly opts: SendLoadOptions) {}

  start(): void {
    const started = Date.now();
    this.timer = setInterval(() => {
      const due = Math.floor(((Date.now() - started) / 1000) * this.opts.rate);
      while (this.n < due) this.fire(this.n++);
    }, 10);
  }

  /** Stops sending and waits for the answers still due. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all(this.inFlight);
  }

  /** Sends one notification now, outside the steady stream (same marks, same records; body.metadata.seq names it when given). */
  sendOne(body: Record<string, unknown>, tenantIndex = 0): Promise<SendRecord> {
    const t = this.opts.tenants[tenantIndex];
    const seq = String((body.metadata as { seq?: string } | undefined)?.seq ?? `x${this.n++}`);
    const rec: SendRecord = { seq, tenant: t.tenant, user: String(body.user_id ?? ''), channel: null, issued: Date.now(), answered: 0, status: 0 };
    return this.post(t, rec, { metadata: { row: this.opts.row, seq }, ...body }).then(() => rec);
  }

  private fire(n: number) {
    const { tenants, row, channelOf } = this.opts;
    const t = tenants[n % tenants.length];
    const k = Math.floor(n / tenants.length);
    const user = t.users[k % t.users.length];
    const channel = channelOf(n);
    const seq = String(n);
    const rec: SendRecord = { seq, tenant: t.tenant, user, channel, issued: Date.now(), answered: 0, status: 0 };
    const body = {
      title: titleOf(row, seq),
      content: '您的订单已确认,预计30分钟送达。Your order is confirmed.',
      type: 'info',
      user_id: user,
      channels: channel ? ['app', channel] : ['app'],
      metadata: { row, seq },
    };
    const p = this.post(t, rec, body);
    this.inFlight.add(p);
    void p.then(() => this.inFlight.delete(p));
  }

  private async post(t: SendTenant, rec: SendRecord, body: Record<string, unknown>): Promise<void> {
    this.sends.push(rec);
    try {
      const res = await fetch(`${this.opts.apiUrl}/api/v1/notifications`, {
        method: 'POST',
        headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 15_000),
      });
      const text = await res.text();
      rec.status = res.status;
      if (res.status === 202) rec.id = JSON.parse(text).id;
      else rec.why = `http ${res.status}`;
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      rec.why = e.name === 'TimeoutError' ? 'timeout' : (e.cause?.code ?? e.message);
    }
    rec.answered = Date.now();
  }
}
