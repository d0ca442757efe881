/**
 * The faults of bench/faults, in the order they run: each kills or stops
 * one thing the way it happens in production and says when it was over.
 */
import type { ExternalChannel } from '../../queues/jobs.js';
import { sleep, waitRoleReady, type Bench, type Fault, type FaultTimes, type Run } from './fault-run.js';
import { poisonFault } from './fault-poison.js';
import { stormFault } from './fault-storm.js';
import { EXTERNAL_CHANNELS } from './provider-fakes.js';

/** kill -9 of one role under load; the supervisor starts it again restartDelayMs later. */
function killFault(role: string): Fault {
  const channel = (EXTERNAL_CHANNELS as string[]).includes(role) ? (role as ExternalChannel) : undefined;
  return {
    name: `kill-${role}`,
    what: `kill -9 of the ${role} process, restarted by the supervisor`,
    channel,
    recurring: role === 'scheduler',
    ...(role === 'scheduler' ? recurringSchedules() : {}),
    async inject(b): Promise<FaultTimes> {
      const at = Date.now();
      await b.sup.kill(role, 'SIGKILL');
      const over = await waitRoleReady(b, role);
      return { at, effective: at, over };
    },
  };
}

/**
 * The scheduler's work under load: one recurring schedule per tenant firing every second to one of the
 * row's users, created before the fault and removed after the row.
 */
function recurringSchedules(): Pick<Fault, 'before' | 'after'> {
  const ids: Array<{ token: string; id: string }> = [];
  return {
    async before(b: Bench, run: Run) {
      for (const [ti, t] of b.tenants.entries()) {
        const res = await fetch(`${b.apiUrl}/api/v1/schedules`, {
          method: 'POST',
          headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            cron: '* * * * * *',
            notification: { title: `fault ${run.row} #recurring`, content: 'every second', user_id: run.users[ti][0], metadata: { row: run.row } },
          }),
        });
        if (res.status !== 201 && res.status !== 200) throw new Error(`POST /schedules answered ${res.status}: ${await res.text()}`);
        ids.push({ token: t.token, id: ((await res.json()) as { id: string }).id });
      }
    },
    async after(b: Bench, run: Run) {
      for (const { token, id } of ids.splice(0))
        await fetch(`${b.apiUrl}/api/v1/schedules/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
      const { rows } = await b.db.query<{ n: number; first: number; last: number; keys: number }>(
        `select count(*)::int as n, count(distinct idempotency_key)::int as keys,
                (extract(epoch from min(created_at)) * 1000)::float8 as first, (extract(epoch from max(created_at)) * 1000)::float8 as last
           from notifications where metadata->>'row' = $1 and metadata->>'seq' is null`,
        [run.row],
      );
      const r = rows[0];
      const span = r.n ? (r.last - r.first) / 1000 : 0;
      run.notes.push(
        `recurring (1/s per tenant): ${r.n} occurrences stored over ${span.toFixed(0)} s for ${b.tenants.length} tenants, ${r.n - r.keys} stored twice`,
      );
    },
  };
}

/** PostgreSQL really stopped (fast shutdown: the server process exits) for downMs, then started again. */
function pgStop(downMs: number): Fault {
  return {
    name: 'pg-stop',
    what: `PostgreSQL stopped for ${downMs / 1000} s (fast shutdown, server process gone), then started again`,
    async inject(b) {
      const at = Date.now();
      await b.pg.stop('SIGINT');
      const effective = Date.now();
      await sleep(effective + downMs - Date.now());
      await b.pg.start();
      return { at, effective, over: Date.now() };
    },
  };
}

function redisPause(pauseMs: number): Fault {
  return {
    name: 'redis-pause',
    what: `redis-server frozen (SIGSTOP) for ${pauseMs / 1000} s, then SIGCONT: connections stay open, nothing answers`,
    async inject(b) {
      const at = Date.now();
      b.redisServer.pause();
      await sleep(pauseMs);
      b.redisServer.resume();
      return { at, effective: at, over: Date.now() };
    },
  };
}

/** Redis stopped (SIGTERM: SHUTDOWN, the AOF flushed; SIGKILL: a crash) and started again from its AOF. */
function redisRestart(signal: 'SIGTERM' | 'SIGKILL'): Fault {
  return {
    name: signal === 'SIGTERM' ? 'redis-restart' : 'redis-kill',
    what:
      signal === 'SIGTERM'
        ? 'redis-server shut down (SIGTERM = SHUTDOWN) and started again from its AOF after the restart delay'
        : 'kill -9 of redis-server, started again from its AOF (appendfsync always, as npm start and docker-compose run it) after the restart delay',
    async inject(b) {
      const at = Date.now();
      await b.redisServer.stop(signal);
      const effective = Date.now();
      await sleep(b.restartDelayMs);
      await b.redisServer.start();
      return { at, effective, over: Date.now() };
    },
  };
}

export interface FaultOptions {
  pgDownMs: number;
  redisPauseMs: number;
  stormSockets: number;
  stormClients: number;
}

export function allFaults(o: FaultOptions): Fault[] {
  return [
    killFault('api'),
    killFault('ingest'),
    killFault('realtime'),
    ...EXTERNAL_CHANNELS.map((c) => killFault(c)),
    killFault('scheduler'),
    pgStop(o.pgDownMs),
    redisPause(o.redisPauseMs),
    redisRestart('SIGTERM'),
    redisRestart('SIGKILL'),
    poisonFault(),
    stormFault(o.stormSockets, o.stormClients),
  ];
}
