/**
 * The email adapter's own SMTP connections, against a real smtp-server on
 * loopback: a kept connection the server has closed meanwhile is replaced
 * without failing the message, and a refused message does not spoil the
 * connection for the next one.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { SMTPServer } from 'smtp-server';
import { SmtpProvider } from '../src/channels/email/smtp.js';
import { loadConfig } from '../src/config.js';
import type { OutgoingMessage } from '../src/channels/types.js';
import { waitFor } from './helpers/harness.js';

let server: SMTPServer;
let port: number;
const received: string[] = [];
let closed = 0;
let refuseNext = false;

const message = (n: number): OutgoingMessage => ({
  title: `lines ${n}`,
  content: 'x',
  type: 'info',
  priority: 'normal',
  metadata: {},
  created_at: new Date().toISOString(),
  deliveryId: `00000000-0000-5000-8000-00000000000${n}`,
  notificationId: `00000000-0000-4000-8000-00000000000${n}`,
  tenant: 't',
  address: `lines${n}@example.com`,
});

beforeAll(async () => {
  server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    // closes a connection idle for this long, as real servers do after a few minutes
    socketTimeout: 300,
    onRcptTo(address, _session, callback) {
      if (refuseNext) {
        refuseNext = false;
        return callback(Object.assign(new Error('no such user'), { responseCode: 550 }));
      }
      callback();
    },
    onData(stream, session, callback) {
      stream.on('data', () => undefined);
      stream.on('end', () => {
        received.push(session.envelope.rcptTo[0].address);
        callback();
      });
    },
    onClose() {
      closed++;
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const provider = () =>
  new SmtpProvider(loadConfig({ NODE_ENV: 'test', SMTP_HOST: '127.0.0.1', SMTP_PORT: String(port), SMTP_FROM: 'Herald <noreply@herald.test>' }));

test('a connection the server closed while idle is replaced: the next message goes out', async () => {
  const email = provider();
  try {
    await email.send(message(1), AbortSignal.timeout(5000));
    await waitFor(() => closed >= 1, 10_000, 'the server to close the idle connection');
    await email.send(message(2), AbortSignal.timeout(5000));
    expect(received.slice(-2)).toEqual(['lines1@example.com', 'lines2@example.com']);
  } finally {
    await email.close();
  }
});

test('a refused recipient is a permanent failure and the next message still goes out', async () => {
  const email = provider();
  try {
    refuseNext = true;
    const refused = await email.send(message(3), AbortSignal.timeout(5000)).catch((err) => email.classify(err));
    expect(refused).toMatchObject({ kind: 'permanent', code: 'smtp_550' });
    await email.send(message(4), AbortSignal.timeout(5000));
    expect(received.at(-1)).toBe('lines4@example.com');
  } finally {
    await email.close();
  }
});
