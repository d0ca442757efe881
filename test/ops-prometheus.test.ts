/**
 * The dashboard and alert rules under deploy/ hold against a real Prometheus
 * (Debian's `prometheus` package, which brings `promtool`): promtool checks
 * and unit-tests the rules, then a Prometheus scraping a running Herald (api,
 * ingest, email worker, realtime node) evaluates every dashboard query and
 * every alert expression. Each must find series, so a metric or label name
 * Herald does not export fails here instead of drawing an empty panel or an
 * alert that can never fire.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { signToken } from '../src/auth/jwt.js';
import { TEST_JWT_SECRET } from './helpers/env.js';
import { uniq, waitFor } from './helpers/harness.js';
import { ROOT, freePort, spawnProcess, type Proc } from './helpers/procs.js';
import { spawnRole } from './helpers/roles.js';
import { sumSeries } from './helpers/prom.js';
import { startSmtpServer } from './fakes/smtp.js';

const ALERTS = join(ROOT, 'deploy/prometheus/alerts.yml');
const DASHBOARD = join(ROOT, 'deploy/grafana/herald.json');

/** Fails loudly, never skips: CI installs the tools (.ci/run), and a missing one must not pass unnoticed. */
function requireTool(name: string): void {
  const r = spawnSync(name, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0)
    throw new Error(
      `${name} is not installed or does not run (${r.error?.message ?? r.stderr}). These tests need Debian's prometheus package ` +
        `(it brings promtool): apt-get install -y prometheus (.ci/run installs it when missing).`,
    );
}

const run = promisify(execFile);
async function promtool(...args: string[]): Promise<string> {
  requireTool('promtool');
  try {
    const { stdout, stderr } = await run('promtool', args, { cwd: ROOT });
    return stdout + stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? e.message}`);
  }
}

describe('promtool', () => {
  test('alerts.yml passes promtool check rules', async () => {
    expect(await promtool('check', 'rules', 'deploy/prometheus/alerts.yml')).toMatch(/SUCCESS: \d+ rules found/);
  });

  test('every alert fires on its condition and stays quiet when healthy (promtool test rules)', async () => {
    expect(await promtool('test', 'rules', 'deploy/prometheus/alerts.test.yml')).toMatch(/SUCCESS/);
  });

  test('every alert of alerts.yml has a unit test where it fires and one where it does not', () => {
    const alerts = [...readFileSync(ALERTS, 'utf8').matchAll(/^\s*- alert: (\w+)/gm)].map((m) => m[1]);
    const tests = readFileSync(join(ROOT, 'deploy/prometheus/alerts.test.yml'), 'utf8');
    const cases = [...tests.matchAll(/alertname: (\w+)\n\s*exp_alerts:( \[\])?/g)].map((m) => `${m[1]} ${m[2] ? 'quiet' : 'fires'}`);
    expect(alerts.length).toBeGreaterThanOrEqual(8);
    for (const alert of alerts) expect(cases, alert).toEqual(expect.arrayContaining([`${alert} quiet`, `${alert} fires`]));
  });

  test('the example prometheus.yml is valid and loads alerts.yml', async () => {
    expect(await promtool('check', 'config', 'deploy/prometheus/prometheus.yml')).toMatch(/SUCCESS: 1 rule files found/);
  });
});

// ---- reading PromQL: which metrics and labels an expression names ----

interface Token {
  kind: 'id' | 'str' | 'num' | 'op' | 'punct' | 'range';
  text: string;
  end: number;
}

const TOKEN =
  /\s+|#[^\n]*|("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)|(\[[^\]]*\])|([a-zA-Z_:][\w:]*)|(\d[\w.]*)|(==|!=|>=|<=|=~|!~|[-+*/%^<>=])|([(){},])/y;

function tokenize(expr: string): Token[] {
  const out: Token[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < expr.length) {
    const m = TOKEN.exec(expr);
    if (!m) throw new Error(`cannot read PromQL at "${expr.slice(TOKEN.lastIndex, TOKEN.lastIndex + 20)}" in ${expr}`);
    const end = TOKEN.lastIndex;
    if (m[1]) out.push({ kind: 'str', text: m[1], end });
    else if (m[2]) out.push({ kind: 'range', text: m[2], end });
    else if (m[3]) out.push({ kind: 'id', text: m[3], end });
    else if (m[4]) out.push({ kind: 'num', text: m[4], end });
    else if (m[5]) out.push({ kind: 'op', text: m[5], end });
    else if (m[6]) out.push({ kind: 'punct', text: m[6], end });
  }
  return out;
}

const AGGREGATIONS = new Set(['sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile', 'limitk', 'limit_ratio']);
const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'atan2', 'inf', 'nan', 'Inf', 'NaN']);
const COMPARISONS = new Set(['==', '!=', '>=', '<=', '>', '<']);

interface Selector {
  metric: string;
  labels: string[];
}

/** The vector selectors of an expression (metric and the labels its matchers name) and the labels its by/on clauses name. */
function analyse(expr: string): { selectors: Selector[]; grouping: string[] } {
  const t = tokenize(expr);
  const selectors: Selector[] = [];
  const grouping: string[] = [];
  for (let i = 0; i < t.length; i++) {
    const tok = t[i];
    if (tok.kind !== 'id' && !(tok.kind === 'punct' && tok.text === '{')) continue;
    if (tok.kind === 'id' && GROUPING.has(tok.text)) {
      if (t[i + 1]?.text !== '(') continue;
      for (i += 2; i < t.length && t[i].text !== ')'; i++) if (t[i].kind === 'id') grouping.push(t[i].text);
      continue;
    }
    if (tok.kind === 'id' && (AGGREGATIONS.has(tok.text) || KEYWORDS.has(tok.text) || t[i + 1]?.text === '(')) continue;
    const sel: Selector = { metric: tok.kind === 'id' ? tok.text : '', labels: [] };
    if (tok.kind === 'id' && t[i + 1]?.text === '{') i++;
    if (t[i].text === '{')
      for (i++; i < t.length && t[i].text !== '}'; i++) {
        if (t[i].kind !== 'id') continue;
        if (t[i].text === '__name__' && t[i + 1]?.text === '=') sel.metric = JSON.parse(t[i + 2].text);
        else sel.labels.push(t[i].text);
        i += 2; // operator and value
      }
    if (!sel.metric) throw new Error(`a selector without a metric name in ${expr}`);
    selectors.push(sel);
  }
  return { selectors, grouping };
}

/**
 * The expression with every comparison turned into a `bool` one, so it
 * answers 0 or 1 for every series it compares instead of dropping the
 * healthy ones: an alert expression of a healthy system then still returns series.
 */
function withoutThresholds(expr: string): string {
  let out = '';
  let from = 0;
  let depth = 0;
  const t = tokenize(expr);
  t.forEach((tok, i) => {
    if (tok.text === '{') depth++;
    if (tok.text === '}') depth--;
    if (depth === 0 && tok.kind === 'op' && COMPARISONS.has(tok.text) && t[i + 1]?.text !== 'bool') {
      out += `${expr.slice(from, tok.end)} bool`;
      from = tok.end;
    }
  });
  return out + expr.slice(from);
}

// ---- a live Herald scraped by a real Prometheus ----

describe('against a running Herald scraped by Prometheus', () => {
  const cleanups: Array<() => unknown> = [];
  const metricsToken = uniq('metrics-token');
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let promUrl: string;
  let ws: WebSocket | undefined;
  /** text frames the device's socket received, by what the node counts them as */
  const framesReceived = { sync: 0, feed: 0 };
  let scrape: () => Promise<string>;

  // A setup that throws (a tool missing, a process that does not start) fails every test below instead of
  // leaving them skipped, which a test summary could pass over.
  let setupError: unknown;
  const setUp = async () => {
    requireTool('prometheus');
    requireTool('promtool');
    smtp = await startSmtpServer();
    cleanups.push(() => smtp.close());
    const apiPort = await freePort();
    const wsPort = await freePort();
    const env = {
      QUEUE_PREFIX: uniq('test-prom'),
      METRICS_PUSH_INTERVAL_MS: '200',
      METRICS_TOKEN: metricsToken,
      RATE_LIMIT_USER_PER_MIN: '3',
      PORT: String(apiPort),
      WS_PORT: String(wsPort),
      WS_THREADS: '1',
      SMTP_HOST: smtp.host,
      SMTP_PORT: String(smtp.port),
      SMTP_FROM: 'Herald <noreply@herald.test>',
    };
    const procs: Record<string, Proc> = {};
    procs.api = spawnRole('src/api/server.ts', { env }, cleanups);
    await procs.api.waitForLog((l) => l.msg === 'api listening', 60_000, 'the api');
    procs.ingest = spawnRole('workers/ingest.ts', { env }, cleanups);
    procs.realtime = spawnRole('src/realtime/server.ts', { env }, cleanups);
    procs.email = spawnRole('workers/email.ts', { env }, cleanups);
    await procs.ingest.waitForLog((l) => l.msg === 'ingest worker started', 60_000, 'ingest');
    await procs.realtime.waitForLog((l) => l.msg === 'realtime node listening', 60_000, 'realtime');
    await procs.email.waitForLog((l) => l.msg === 'email worker started', 60_000, 'email');

    // A little of everything the dashboard and the alerts read.
    const api = `http://127.0.0.1:${apiPort}`;
    const tenant = uniq('tenant-prom');
    const svc = await signToken(TEST_JWT_SECRET, { sub: 'svc', tenant, scope: 'notify:send' });
    const call = (method: string, path: string, token: string, body?: unknown) =>
      fetch(`${api}/api/v1${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    expect((await call('PUT', '/recipients/pu', svc, { email: 'pu@example.com' })).status).toBe(200);
    // one device online, acking what it receives (app deliveries, feed traffic, a live connection)
    const user = await signToken(TEST_JWT_SECRET, { sub: 'pu', tenant });
    ws = new WebSocket(`ws://127.0.0.1:${wsPort}/api/v1/ws?token=${user}`);
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data));
      framesReceived[frame.event === 'welcome' ? 'sync' : 'feed']++;
      if (frame.event === 'notification') ws!.send(JSON.stringify({ type: 'ack', id: frame.id }));
    });
    await new Promise((resolve, reject) => ws!.once('open', resolve).once('error', reject));
    // the mail server refuses the first message for good: one permanent email failure
    smtp.rejectNext(550);
    for (let i = 0; i < 3; i++)
      expect((await call('POST', '/notifications', svc, { title: `Prometheus ${i}`, content: 'load', user_id: 'pu', channels: ['app', 'email'] })).status).toBe(202);
    // a user token over RATE_LIMIT_USER_PER_MIN: one 429
    const reader = await signToken(TEST_JWT_SECRET, { sub: 'reader', tenant });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await call('GET', '/notifications/unread-count', reader)).status);
    expect(statuses).toContain(429);

    scrape = async () => (await fetch(`${api}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } })).text();
    await waitFor(
      async () => {
        const text = await scrape();
        return (
          sumSeries(text, 'notification_sent_total', { channel: 'email' }) === 2 &&
          sumSeries(text, 'notification_failed_total', { channel: 'email', reason: 'permanent' }) === 1 &&
          sumSeries(text, 'notification_sent_total', { channel: 'app' }) === 3 &&
          sumSeries(text, 'herald_job_wait_seconds_count', { queue: 'deliver-email' }) >= 1
        );
      },
      30_000,
      'the deliveries to show in /metrics',
    );

    // Prometheus on a free loopback port, its own config and storage, scraping the api every second.
    const dir = mkdtempSync(join(tmpdir(), 'herald-prometheus-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const promPort = await freePort();
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        `rule_files: [${JSON.stringify(ALERTS)}]`,
        'scrape_configs:',
        '  - job_name: herald',
        `    static_configs: [{ targets: ['127.0.0.1:${apiPort}'] }]`,
        `    authorization: { type: Bearer, credentials: ${JSON.stringify(metricsToken)} }`,
        '',
      ].join('\n'),
    );
    const prom = spawnProcess(
      'prometheus',
      [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`],
      {},
    );
    cleanups.push(() => prom.stop('SIGTERM'));
    promUrl = `http://127.0.0.1:${promPort}`;
    await waitFor(
      async () => {
        if (prom.child.exitCode !== null) throw new Error(`prometheus exited:\n${prom.lines.slice(-20).join('\n')}`);
        return (await fetch(`${promUrl}/-/ready`)).ok;
      },
      20_000,
      'prometheus to start',
    );
    // three scrapes, so every rate() and deriv() has samples to work on
    await waitFor(async () => (await query('count_over_time(up{job="herald"}[1m]) >= 3 and up{job="herald"} == 1')).length, 20_000, 'three scrapes of the api');
  };
  beforeAll(() => setUp().catch((err) => (setupError = err)), 120_000);
  const ready = () => {
    if (setupError) throw setupError;
  };

  afterAll(async () => {
    ws?.close();
    for (const c of cleanups.reverse()) await c();
  });

  async function query(q: string): Promise<Array<{ metric: Record<string, string> }>> {
    const res = await fetch(`${promUrl}/api/v1/query?${new URLSearchParams({ query: q })}`);
    const body = (await res.json()) as { status: string; error?: string; data: { resultType: string; result: any } };
    if (body.status !== 'success') throw new Error(`${q}: ${body.error}`);
    return body.data.resultType === 'vector' ? body.data.result : [{ metric: {} }];
  }

  /** What is wrong with an expression: metrics and labels it names that have no series, or no series at all. */
  async function problemsOf(where: string, expr: string, evaluate: string): Promise<string[]> {
    const problems: string[] = [];
    const { selectors, grouping } = analyse(expr);
    for (const { metric, labels } of selectors) {
      if (!(await query(`count(${metric})`)).length) {
        problems.push(`${where}: Herald exports no ${metric}`);
        continue;
      }
      for (const label of labels) if (!(await query(`count(${metric}{${label}!=""})`)).length) problems.push(`${where}: ${metric} has no label ${label}`);
    }
    const metrics = [...new Set(selectors.map((s) => s.metric))].join('|');
    for (const label of new Set(grouping))
      if (!(await query(`count({__name__=~"${metrics}",${label}!=""})`)).length) problems.push(`${where}: none of ${metrics} has the label ${label}`);
    try {
      if (!(await query(evaluate)).length) problems.push(`${where}: no series from ${evaluate}`);
    } catch (err) {
      problems.push(`${where}: ${(err as Error).message}`);
    }
    return problems;
  }

  test('every query of the Grafana dashboard returns series', async () => {
    ready();
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
    expect(dashboard.schemaVersion).toBe(39);
    expect(dashboard.__inputs).toEqual([expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' })]);
    // the template variables: their values, and what each stands for in the queries (Grafana's All)
    const values: Record<string, string> = { __rate_interval: '1m', __interval: '15s', __range: '1h' };
    const problems: string[] = [];
    for (const v of dashboard.templating.list) {
      values[v.name] = v.allValue ?? '.*';
      const m = /^label_values\((?:([\w:]+)\s*,\s*)?(\w+)\)$/.exec(v.definition);
      expect(m, `variable ${v.name}: ${v.definition}`).toBeTruthy();
      const params = new URLSearchParams(m![1] ? { 'match[]': m![1] } : {});
      const res = (await (await fetch(`${promUrl}/api/v1/label/${m![2]}/values?${params}`)).json()) as { data: string[] };
      if (!res.data.length) problems.push(`variable ${v.name}: no values for ${v.definition}`);
    }
    const panels = dashboard.panels.filter((p: any) => p.type !== 'row');
    expect(panels.length).toBeGreaterThanOrEqual(15);
    let queries = 0;
    for (const panel of panels) {
      expect(panel.datasource).toEqual({ type: 'prometheus', uid: '${DS_PROMETHEUS}' });
      expect(panel.targets.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets) {
        const expr = String(target.expr).replace(/\$\{?(\w+)\}?/g, (whole, name: string) => values[name] ?? whole);
        expect(expr, `${panel.title}: a variable the dashboard does not define`).not.toContain('$');
        problems.push(...(await problemsOf(`panel "${panel.title}" ${target.refId}`, expr, expr)));
        queries++;
      }
    }
    expect(problems).toEqual([]);
    expect(queries).toBeGreaterThanOrEqual(20);
  });

  test('every alert rule is loaded and evaluates, and each expression reads series Herald exports', async () => {
    ready();
    const inFile = [...readFileSync(ALERTS, 'utf8').matchAll(/^\s*- alert: (\w+)/gm)].map((m) => m[1]);
    // Prometheus's own reading of the rules (its rendering of each expression), once each has been evaluated
    const rules = await waitFor(
      async () => {
        const body = (await (await fetch(`${promUrl}/api/v1/rules?type=alert`)).json()) as { data: { groups: Array<{ rules: any[] }> } };
        const all = body.data.groups.flatMap((g) => g.rules);
        return all.length === inFile.length && all.every((r) => r.health === 'ok') && all;
      },
      10_000,
      'every alert rule evaluated without error',
    );
    expect(rules.map((r: any) => r.name).sort()).toEqual([...inFile].sort());
    const problems: string[] = [];
    for (const rule of rules) {
      expect(rule.labels.severity, rule.name).toMatch(/^(critical|warning|info)$/);
      expect(rule.annotations.summary, rule.name).toBeTruthy();
      expect(rule.annotations.description, rule.name).toBeTruthy();
      problems.push(...(await problemsOf(`alert ${rule.name}`, rule.query, withoutThresholds(rule.query))));
    }
    expect(problems).toEqual([]);
    // on live data: the email the mail server refused for good left a failed job in deliver-email, which
    // HeraldFailedJobsWaiting leaves to HeraldDeliverySuccessLow (too few deliveries here to judge); nothing is wrong
    expect((await query('herald_queue_jobs{queue="deliver-email",state="failed"} == 1')).length).toBe(1);
    expect(rules.filter((r: any) => r.state !== 'inactive').map((r: any) => `${r.name} ${r.state}`)).toEqual([]);
  });

  test('the api reports PostgreSQL and Redis up, each process reports itself once, and every frame the socket got is counted', async () => {
    ready();
    const values = async (q: string) =>
      Object.fromEntries(((await query(q)) as Array<{ metric: Record<string, string>; value: [number, string] }>).map((r) => [Object.values(r.metric).join(','), Number(r.value[1])]));
    expect(await values('max by (dependency, role) (herald_dependency_up)')).toEqual({ 'postgres,api': 1, 'redis,api': 1 });
    expect(await values('sum by (role) (herald_process_up)')).toEqual({ api: 1, ingest: 1, realtime: 1, email: 1 });
    // the welcome, and each notification published to the socket's topics
    expect(framesReceived.sync).toBe(1);
    expect(framesReceived.feed).toBeGreaterThanOrEqual(3);
    const text = await waitFor(
      async () => {
        const t = await scrape();
        return sumSeries(t, 'realtime_frames_sent_total', { kind: 'feed' }) === framesReceived.feed && t;
      },
      10_000,
      'the frames sent to be pushed',
    );
    expect(sumSeries(text, 'realtime_frames_sent_total', { kind: 'sync', role: 'realtime' })).toBe(1);
    expect(sumSeries(text, 'realtime_frames_sent_total', { kind: 'reply' })).toBe(0);
  });
});
