import { Readable } from 'node:stream';
import SMTPConnection, { type SMTPConnectionSendInfo, type SMTPEnvelope } from 'nodemailer/lib/smtp-connection';

/** Messages sent over one connection before it is renewed (many servers cap a session at about this). */
const MAX_MESSAGES_PER_CONNECTION = 100;
/** An idle connection is closed after this long, well within the 5 minutes a server must wait (RFC 5321). */
const IDLE_CLOSE_MS = 60_000;

export interface SmtpLineOptions {
  host: string;
  port: number;
  /** implicit TLS; otherwise STARTTLS when the server offers it */
  secure: boolean;
  auth?: { user: string; pass: string };
  /** ms for connecting, the greeting and any one reply */
  timeoutMs: number;
}

/**
 * A transaction that failed after the end of DATA had been written and
 * before the server's reply arrived: the server may have taken the
 * message. Before that point nothing can have been delivered (a server
 * delivers nothing it has not seen end), and a reply, even a refusal, is
 * definite.
 */
export class SmtpOutcomeUnknown extends Error {
  override name = 'SmtpOutcomeUnknown';
  constructor(override readonly cause: unknown) {
    super(`no reply to the end of DATA: ${(cause as Error)?.message ?? String(cause)}`);
  }
}

/** How far one transaction got: whether the message's bytes were asked for, and whether all of them went. */
interface Progress {
  read: boolean;
  ended: boolean;
}

const hasReply = (err: unknown) => typeof (err as { responseCode?: unknown })?.responseCode === 'number';

/** The message body as a stream that records how far the connection read it. */
function bodyOf(raw: Buffer, progress: Progress): Readable {
  const body = new Readable({
    read() {
      progress.read = true;
      this.push(raw);
      this.push(null);
    },
  });
  // the end of the body is the moment the connection writes the terminating dot
  body.once('end', () => (progress.ended = true));
  return body;
}

/** One SMTP transaction on an open connection, cut at once when `signal` aborts. */
function transact(conn: SMTPConnection, envelope: SMTPEnvelope, raw: Buffer, signal: AbortSignal): Promise<SMTPConnectionSendInfo> {
  const progress: Progress = { read: false, ended: false };
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err: unknown, info?: SMTPConnectionSendInfo) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      if (!err) return resolve(info!);
      if (!hasReply(err) && progress.ended) return reject(new SmtpOutcomeUnknown(err));
      reject(Object.assign(err as object, { bodyUnread: !progress.read }));
    };
    const onAbort = () => {
      conn.close();
      finish(signal.reason ?? new Error('aborted'));
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    conn.send(envelope, bodyOf(raw, progress), (err, info) => finish(err, info));
  });
}

/**
 * One connection to the SMTP server, opened on first use, kept between
 * messages and renewed when it fails. It carries one transaction at a time.
 */
class SmtpLine {
  private conn: SMTPConnection | null = null;
  private messages = 0;
  private idle?: NodeJS.Timeout;

  constructor(private readonly opts: SmtpLineOptions) {}

  async send(envelope: SMTPEnvelope, raw: Buffer, signal: AbortSignal): Promise<SMTPConnectionSendInfo> {
    clearTimeout(this.idle);
    const kept = this.conn;
    try {
      const info = await transact(kept ?? (await this.open(signal)), envelope, raw, signal);
      this.afterMessage();
      return info;
    } catch (err) {
      this.drop();
      // a kept connection the server had closed meanwhile: not a byte of the message went out, a fresh one may carry it
      if (kept && !signal.aborted && !hasReply(err) && (err as { bodyUnread?: boolean }).bodyUnread) return this.send(envelope, raw, signal);
      throw err;
    }
  }

  private open(signal: AbortSignal): Promise<SMTPConnection> {
    const { host, port, secure, auth, timeoutMs } = this.opts;
    const conn = new SMTPConnection({ host, port, secure, connectionTimeout: timeoutMs, greetingTimeout: timeoutMs, socketTimeout: timeoutMs, logger: false });
    return new Promise((resolve, reject) => {
      let done = false;
      const fail = (err: unknown) => {
        if (done) return;
        done = true;
        signal.removeEventListener('abort', onAbort);
        conn.close();
        reject(err);
      };
      const onAbort = () => fail(signal.reason ?? new Error('aborted'));
      const ready = () => {
        if (done) return;
        done = true;
        signal.removeEventListener('abort', onAbort);
        this.conn = conn;
        this.messages = 0;
        resolve(conn);
      };
      // errors during a transaction also reach its callback; this listener keeps the emitter from throwing them
      conn.on('error', fail);
      conn.once('end', () => {
        if (this.conn === conn) this.conn = null;
        fail(Object.assign(new Error('the SMTP server closed the connection before the session began'), { code: 'ECONNECTION' }));
      });
      signal.addEventListener('abort', onAbort, { once: true });
      conn.connect((err) => {
        if (err) return fail(err);
        if (!auth || !conn.allowsAuth) return ready();
        conn.login({ user: auth.user, pass: auth.pass }, (loginErr) => (loginErr ? fail(loginErr) : ready()));
      });
    });
  }

  private afterMessage(): void {
    const conn = this.conn;
    if (!conn) return;
    if (++this.messages >= MAX_MESSAGES_PER_CONNECTION) return this.quit();
    this.idle = setTimeout(() => this.quit(), IDLE_CLOSE_MS);
    this.idle.unref();
  }

  private quit(): void {
    const conn = this.conn;
    this.conn = null;
    conn?.quit();
  }

  /** After a failure the session's state is unknown: the next message gets a fresh connection. */
  private drop(): void {
    const conn = this.conn;
    this.conn = null;
    conn?.close();
  }

  close(): void {
    clearTimeout(this.idle);
    this.quit();
  }
}

/**
 * A fixed number of SMTP connections, each handed to one message at a
 * time. Unlike a pool with an internal queue, a caller that holds a line
 * knows its message goes on the wire at once: waiting happens before, in
 * `acquire`, where the caller can still say "not sent yet".
 */
export class SmtpLines {
  private readonly all: SmtpLine[];
  private readonly free: SmtpLine[];
  private readonly waiting: Array<(line: SmtpLine) => void> = [];

  constructor(opts: SmtpLineOptions, size: number) {
    this.all = Array.from({ length: size }, () => new SmtpLine(opts));
    this.free = [...this.all];
  }

  /** A free line, in arrival order; the most recently used one first, so a light load keeps one connection warm. */
  acquire(): Promise<SmtpLine> {
    const line = this.free.pop();
    return line ? Promise.resolve(line) : new Promise((resolve) => this.waiting.push(resolve));
  }

  release(line: SmtpLine): void {
    const next = this.waiting.shift();
    if (next) next(line);
    else this.free.push(line);
  }

  close(): void {
    for (const line of this.all) line.close();
  }
}
