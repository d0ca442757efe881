import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/**
 * A real SMTP server on 127.0.0.1 (port 0) that parses every message it
 * receives with mailparser. `rejectNext(code)` answers the next DATA with
 * that SMTP code (4xx temporary, 5xx permanent), as a mail server would.
 */
export async function startSmtpServer() {
  const mails: ParsedMail[] = [];
  const rejections: number[] = [];
  let held: { promise: Promise<void>; open(): void } | null = null;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _session, callback) {
      const code = rejections.shift();
      simpleParser(stream)
        .then((mail) => {
          if (code) {
            const err = Object.assign(new Error(code >= 500 ? 'mailbox unavailable' : 'try again later'), { responseCode: code });
            return callback(err);
          }
          mails.push(mail);
          const reply = held?.promise;
          if (reply) return reply.then(() => callback());
          callback();
        })
        .catch((err) => callback(err));
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    host: '127.0.0.1',
    port,
    mails,
    rejectNext(code: number) {
      rejections.push(code);
    },
    /**
     * From now on the server takes each message whole (it is in `mails`)
     * but answers the end of DATA only after `open()`: a client killed or
     * timed out meanwhile never learns that its message was accepted.
     */
    hold() {
      let open!: () => void;
      const promise = new Promise<void>((resolve) => (open = resolve));
      held = {
        promise,
        open() {
          held = null;
          open();
        },
      };
      return held;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
