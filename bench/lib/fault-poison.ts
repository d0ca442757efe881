/**
 * A poison notification among good ones, while three tenants send.
 *
 * PostgreSQL cannot store a NUL character in text. The api's edge may refuse
 * it, but the ingest worker must not rely on that: an older api, a job from
 * another version, or a rule the edge does not know can put one in the
 * queue. So the poison goes straight into the ingest queue the way the api
 * enqueues (addNotificationJobs): one job holding good notifications of the
 * three tenants with the poison among them. A second one is sent over HTTP:
 * refused at the edge it counts as "not accepted"; answered 202 it is a
 * notification accepted and never stored, a loss.
 */
import { Queue } from 'bullmq';
import { INGEST_JOB } from '../../queues/defaults.js';
import { ingestJobId } from '../../queues/job-ids.js';
import type { IngestJob, NotificationDraft } from '../../queues/jobs.js';
import { QUEUE } from '../../queues/names.js';
import { addNotificationJobs } from '../../queues/producers.js';
import { newId } from '../../src/domain/ids.js';
import type { Bench, Fault, Run } from './fault-run.js';
import { titleOf, type SendRecord } from './send-load.js';

const POISON_TITLE_END = '\u0000';
/** concurrent single sends per tenant fired with the poison */
const BURST = 40;

function draft(run: Run, tenant: string, user: string, seq: string, title: string): NotificationDraft {
  return {
    id: newId(),
    tenant,
    target: { kind: 'user', id: user },
    title,
    content: 'poison batch neighbour',
    type: 'info',
    priority: 'normal',
    channels: ['app'],
    fallback_channels: [],
    metadata: { row: run.row, seq },
    source: null,
    group_key: null,
    idempotency_key: null,
    sender: `svc-${tenant}`,
    created_at: new Date().toISOString(),
    schedule_at: null,
  };
}

export function poisonFault(): Fault {
  let queue: Queue<IngestJob> | undefined;
  let jobId = '';
  let poisonId = '';
  return {
    name: 'poison',
    what: `one ingest job of 9 good notifications (3 tenants) with a NUL-titled one among them, put in the queue as an older api would, amid a burst of ${BURST} concurrent sends per tenant, plus one NUL title over HTTP`,
    async inject(b: Bench, run: Run) {
      queue = new Queue<IngestJob>(QUEUE.ingest, { connection: b.redis, prefix: b.prefix, defaultJobOptions: INGEST_JOB });
      queue.on('error', () => undefined);
      const at = Date.now();
      const drafts: NotificationDraft[] = [];
      for (const [ti, t] of b.tenants.entries())
        for (let k = 0; k < 3; k++) {
          const seq = `inj-${ti}-${k}`;
          drafts.push(draft(run, t.tenant, run.users[ti][k], seq, titleOf(run.row, seq)));
          if (ti === 1 && k === 1) {
            const poison = draft(run, t.tenant, run.users[ti][k], 'inj-poison', titleOf(run.row, 'inj-poison') + POISON_TITLE_END);
            poisonId = poison.id;
            drafts.push(poison);
          }
        }
      jobId = ingestJobId(drafts[0].id);
      // a burst of concurrent single sends from the three tenants around it: the api and the worker batch
      // concurrent sends together, so these may share a job or an INSERT with the poison
      const burst: Array<Promise<SendRecord>> = [];
      for (let k = 0; k < BURST; k++)
        for (const ti of b.tenants.keys()) {
          const seq = `burst-${ti}-${k}`;
          burst.push(run.load.sendOne({ title: titleOf(run.row, seq), content: 'sent with the poison', user_id: run.users[ti][k % run.users[ti].length], metadata: { row: run.row, seq } }, ti));
        }
      const http = run.load.sendOne(
        { title: titleOf(run.row, 'http-poison') + POISON_TITLE_END, content: 'NUL in the title', user_id: run.users[2][0] },
        2,
      );
      await addNotificationJobs(queue, drafts);
      await Promise.all(burst);
      for (const d of drafts)
        if (d.id !== poisonId) {
          const user = d.target.kind === 'user' ? d.target.id : '';
          const rec: SendRecord = { seq: String(d.metadata.seq), tenant: d.tenant, user, channel: null, issued: at, answered: at, status: 202, id: d.id };
          run.injected.push(rec);
        }
      const answer = await http;
      run.notes.push(`HTTP send with a NUL in its title: ${answer.status === 202 ? 'answered 202 (accepted)' : `answered ${answer.status || answer.why} (not accepted)`}`);
      return { at, effective: at, over: Date.now() };
    },
    async after(b: Bench, run: Run) {
      const stored = (await b.db.query('select 1 from notifications where id = $1', [poisonId])).rowCount;
      let rejected = 'no record of it';
      try {
        const r = await b.db.query<{ reason: string }>('select reason from notification_rejections where id = $1', [poisonId]);
        if (r.rowCount) rejected = `recorded as rejected (${r.rows[0].reason})`;
      } catch {
        rejected = 'no rejection table in this version';
      }
      const job = await queue!.getJob(jobId);
      // PostgreSQL's own words come after the statement in the failure (which can be long)
      const reason = job?.failedReason ?? '';
      const why = (reason.includes(' - ') ? reason.slice(reason.lastIndexOf(' - ') + 3) : reason).trim().slice(0, 120);
      const state = job ? `${await job.getState()}, ${job.attemptsMade} attempts${why ? `, "${why}"` : ''}` : 'gone (completed)';
      run.notes.push(`injected poison: ${stored ? 'stored (!)' : 'not stored'}, ${rejected}; its job: ${state}`);
      // jobs of this row still waiting to be retried would poison the batches of the rows after it
      // (failed ones stay: they are the operator's record, and are never run again)
      let removed = 0;
      for (const j of await queue!.getJobs(['wait', 'delayed', 'prioritized'])) {
        if (!j || !JSON.stringify(j.data).includes(`"row":"${run.row}"`)) continue;
        await j.remove().catch(() => undefined);
        removed++;
      }
      if (removed) run.notes.push(`removed ${removed} ingest job(s) of this row still waiting to be retried after the drain`);
      await queue!.close();
    },
  };
}
