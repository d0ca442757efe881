/**
 * What an email worker's crash leaves behind, with a real worker process
 * killed with SIGKILL and a real SMTP server on loopback. The server takes
 * each message whole but holds its reply to the end of DATA, so the dying
 * worker never learns that those messages were accepted: the one case SMTP
 * cannot settle. EMAIL_ON_UNKNOWN decides what the next worker does with
 * them; everything that was not yet on the wire must be sent exactly once.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ParsedMail } from 'mailparser';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';
import { startChannelWorker } from './helpers/channels.js';
import type { Proc } from './helpers/procs.js';
import { spawnRole } from './helpers/roles.js';
import { startSmtpServer } from './fakes/smtp.js';

/** SMTP connections an email worker holds (src/channels/email/smtp.ts). */
const SMTP_CONNECTIONS = 5;
const EMAILS = 12;

let h: Harness;
let svc: string;

type Smtp = Awaited<ReturnType<typeof startSmtpServer>>;

async function startSmtp(): Promise<Smtp> {
  const smtp = await startSmtpServer();
  h.life.add('smtp server', () => smtp.close());
  return smtp;
}

/** workers/email.ts as production runs it, on this file's queues and database. */
async function startEmailWorker(smtp: Smtp, env: Record<string, string> = {}): Promise<Proc> {
  const proc = spawnRole(
    'workers/email.ts',
    {
      harness: h,
      env: {
        SMTP_HOST: smtp.host,
        SMTP_PORT: String(smtp.port),
        SMTP_FROM: 'Herald <noreply@herald.test>',
        EMAIL_RATE_PER_SEC: '1000',
        CHANNEL_LOCK_MS: '1500',
        CHANNEL_STALLED_INTERVAL_MS: '300',
        ...env,
      },
    },
    h.life,
  );
  await proc.waitForLog((l) => l.msg === 'email worker started', 30_000, 'the email worker');
  return proc;
}

/** One email-only notification to each of `count` fresh recipients (SMS as their fallback channel). */
async function sendEmails(label: string, count: number): Promise<string[]> {
  const users = Array.from({ length: count }, (_, i) => uniq(`${label}-${i}`));
  for (const u of users) {
    const put = await h.request('PUT', `/api/v1/recipients/${u}`, { token: svc, body: { email: `${u}@example.com`, phone: '13800001111' } });
    expect(put.status).toBe(200);
  }
  const notifications = users.map((u) => ({ title: `crash ${label}`, content: u, user_id: u, channels: ['email'], fallback_channels: ['sms'] }));
  const sent = await h.request('POST', '/api/v1/notifications/bulk', { token: svc, body: { notifications } });
  expect(sent.status).toBe(202);
  return sent.body.ids;
}

/** Every delivery of these notifications, all channels. */
const deliveries = (ids: string[]) =>
  h.orm.em.fork().execute<any[]>(`select * from deliveries where notification_id = any(?::uuid[]) order by created_at`, [`{${ids.join(',')}}`]);

const emailRows = async (ids: string[]) => (await deliveries(ids)).filter((d) => d.channel === 'email');

/** Waits until each notification has its email delivery and none is queued or sending. */
const settled = (ids: string[]) =>
  waitFor(
    async () => {
      const rows = await emailRows(ids);
      return rows.length === ids.length && rows.every((d) => d.status !== 'queued' && d.status !== 'sending') ? rows : null;
    },
    30_000,
    'every email delivery to settle',
  );

const deliveryOf = (mail: ParsedMail) => String(mail.headers.get('x-herald-delivery'));

const kill = async (proc: Proc) => {
  await proc.stop('SIGKILL');
};

/**
 * Sends EMAILS emails through a worker started with `env`, lets the SMTP
 * server take SMTP_CONNECTIONS of them without answering, kills the
 * worker, and returns what was recorded at that moment and which messages
 * the server had.
 */
async function crashMidSend(label: string, smtp: Smtp, env: Record<string, string>) {
  const first = await startEmailWorker(smtp, env);
  const held = smtp.hold();
  const ids = await sendEmails(label, EMAILS);
  // every connection carries a complete message whose acceptance the worker is waiting to hear
  await waitFor(() => smtp.mails.length >= SMTP_CONNECTIONS, 20_000, 'a message on every SMTP connection');
  await kill(first);
  const atKill = await emailRows(ids);
  const accepted = new Set(smtp.mails.map(deliveryOf));
  held.open();
  return { ids, atKill, accepted };
}

beforeAll(async () => {
  h = await createHarness();
  await h.startIngest();
  svc = await h.serviceToken();
}, 60_000);
afterAll(() => h.close());

describe('an email worker killed while its messages wait for the SMTP reply', () => {
  test('EMAIL_ON_UNKNOWN=skip: nothing is mailed twice, the undecided ones fail as unknown_outcome, everything else is sent once', { timeout: 90_000 }, async () => {
    const smtp = await startSmtp();
    const { ids, atKill, accepted } = await crashMidSend('skip', smtp, { EMAIL_ON_UNKNOWN: 'skip' });
    // a record says sending only while its message is on the wire: the others were still queued, safe to send
    expect(accepted.size).toBe(SMTP_CONNECTIONS);
    expect(atKill.filter((d) => d.status === 'sending').map((d) => d.id).sort()).toEqual([...accepted].sort());
    expect(atKill.filter((d) => d.status === 'queued')).toHaveLength(EMAILS - SMTP_CONNECTIONS);

    const fresh = await startEmailWorker(smtp, { EMAIL_ON_UNKNOWN: 'skip' });
    const rows = await settled(ids);
    await fresh.stop();

    const perDelivery = new Map<string, ParsedMail[]>();
    for (const m of smtp.mails) perDelivery.set(deliveryOf(m), [...(perDelivery.get(deliveryOf(m)) ?? []), m]);
    expect([...perDelivery.values()].filter((mails) => mails.length > 1)).toEqual([]);
    for (const d of rows) {
      if (accepted.has(d.id)) expect(d).toMatchObject({ status: 'failed', reason: 'unknown_outcome' });
      else expect(d).toMatchObject({ status: 'sent', attempts: 1 });
      expect(perDelivery.get(d.id)).toHaveLength(1);
    }
    // at most once means no fallback either: the recipient may already have the email
    expect((await deliveries(ids)).filter((d) => d.channel !== 'email')).toEqual([]);
  });

  test('EMAIL_ON_UNKNOWN=resend (default): every email is sent, and a message sent twice is the same message', { timeout: 90_000 }, async () => {
    const smtp = await startSmtp();
    const { ids, atKill, accepted } = await crashMidSend('resend', smtp, {});
    expect(atKill.filter((d) => d.status === 'sending').map((d) => d.id).sort()).toEqual([...accepted].sort());

    const fresh = await startEmailWorker(smtp);
    const rows = await settled(ids);
    await fresh.stop();

    expect(rows.every((d) => d.status === 'sent')).toBe(true);
    for (const d of rows) {
      const mails = smtp.mails.filter((m) => deliveryOf(m) === d.id);
      // the interrupted ones went out again (at least once); the rest once
      expect(mails).toHaveLength(accepted.has(d.id) ? 2 : 1);
      expect(new Set(mails.map((m) => m.messageId))).toEqual(new Set([`<${d.id}@herald.test>`]));
      expect(d.provider_message_id).toBe(`<${d.id}@herald.test>`);
    }
  });
});

describe('an email attempt cut off in the live worker', () => {
  test('EMAIL_ON_UNKNOWN=skip: no reply to a complete message before the timeout → unknown_outcome, not retried; a 451 is retried', { timeout: 60_000 }, async () => {
    const smtp = await startSmtp();
    const worker = await startEmailWorker(smtp, { EMAIL_ON_UNKNOWN: 'skip', PROVIDER_TIMEOUT_MS: '1000' });
    const held = smtp.hold();
    const [slow] = await sendEmails('timeout', 1);
    const [row] = await waitFor(async () => {
      const rows = await emailRows([slow]);
      return rows[0]?.status === 'failed' ? rows : null;
    }, 20_000, 'the cut-off delivery to be settled');
    held.open();
    expect(row).toMatchObject({ status: 'failed', reason: 'unknown_outcome', attempts: 1 });
    expect(row.last_error).toMatch(/timeout/);

    // a refusal is an answer: nothing was accepted, so it is retried even with skip
    smtp.rejectNext(451);
    const [refused] = await sendEmails('refused', 1);
    const [sent] = await settled([refused]);
    await worker.stop();
    expect(sent).toMatchObject({ status: 'sent', attempts: 2 });
    expect(smtp.mails.map(deliveryOf).sort()).toEqual([row.id, sent.id].sort());
  });
});

describe('a live worker that lost its job lock', () => {
  test('does not send what the worker that took the job over sends', { timeout: 60_000 }, async () => {
    const smtp = await startSmtp();
    const env = { SMTP_HOST: smtp.host, SMTP_PORT: String(smtp.port), SMTP_FROM: 'Herald <noreply@herald.test>' };
    let entered!: () => void;
    const inGate = new Promise<void>((resolve) => (entered = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    // the first worker stops right before the provider call, long enough to lose its lock
    let stopped = false;
    const stuck = await startChannelWorker(h, 'email', env, {
      lockDurationMs: 30_000,
      stalledIntervalMs: 300,
      gate: async () => {
        if (stopped) return { action: 'send' };
        stopped = true;
        entered();
        await released;
        return { action: 'send' };
      },
    });
    const [id] = await sendEmails('lock', 1);
    await inGate;
    const [row] = await emailRows([id]);
    // the lock lapses as it would for a worker paused longer than CHANNEL_LOCK_MS or cut off from Redis
    await h.redis.del(`${stuck.queues.email.toKey(`d-${row.id}`)}:lock`);
    const other = await startChannelWorker(h, 'email', env, { stalledIntervalMs: 300 });
    await waitFor(async () => (await emailRows([id]))[0]?.status === 'sent', 20_000, 'the other worker to send it');
    release();
    await stuck.worker.close();
    await other.worker.close();
    expect(smtp.mails.filter((m) => deliveryOf(m) === row.id)).toHaveLength(1);
  });
});
