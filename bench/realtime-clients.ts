/**
 * A load-client process of bench/realtime (forked with IPC). One process can
 * hold at most ~19,900 sockets on this machine (20,000 open files), so the
 * bench spreads its sockets over several of these.
 *
 * Messages from the parent:
 *   { cmd: 'connect', urls: string[], localAddress, waitWelcome }  → { connected, failed }
 *   { cmd: 'report' } → { latencies: number[], segments: number[], bcast: Record<string, number[]> } (then cleared)
 *   { cmd: 'close' }  → { closed }
 * Frames carrying `metadata.bench_t0` (Herald) or `t0` (baseline) record
 * now − t0 in ms; with `bench_kind: 'bcast'` the receive time is recorded under
 * the frame's `bench_id` instead.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';

const now = () => performance.timeOrigin + performance.now();
const sockets: WebSocket[] = [];
let latencies: number[] = [];
/** for Herald frames: [POST → accepted (created_at), accepted → stored (sent_at), stored → frame] per frame */
let segments: number[] = [];
let bcast: Record<string, number[]> = {};
let frames = 0;

function onFrame(data: WebSocket.RawData) {
  frames++;
  const text = data.toString();
  if (!text.includes('"bench_')) return;
  const f = JSON.parse(text);
  const m = f.metadata ?? f;
  if (m.bench_kind === 'bcast') (bcast[m.bench_id] ??= []).push(now());
  else if (typeof m.bench_t0 === 'number') {
    const t = now();
    latencies.push(t - m.bench_t0);
    if (f.created_at && f.sent_at) {
      const created = Date.parse(f.created_at);
      const stored = Date.parse(f.sent_at);
      segments.push(created - m.bench_t0, stored - created, t - stored);
    }
  }
}

async function connectAll(urls: string[], localAddress: string | undefined, waitWelcome: boolean) {
  let connected = 0;
  let failed = 0;
  let next = 0;
  const open = (url: string) =>
    new Promise<void>((resolve) => {
      const ws = new WebSocket(url, { localAddress, perMessageDeflate: false });
      let done = false;
      const finish = (ok: boolean) => {
        if (done) return;
        done = true;
        if (ok) {
          connected++;
          sockets.push(ws);
        } else failed++;
        resolve();
      };
      ws.on('message', (d) => {
        if (waitWelcome && !done) return finish(true);
        onFrame(d);
      });
      ws.on('open', () => !waitWelcome && finish(true));
      ws.on('error', () => finish(false));
      ws.on('close', () => finish(false));
    });
  const lanes = Array.from({ length: 100 }, async () => {
    while (next < urls.length) await open(urls[next++]);
  });
  await Promise.all(lanes);
  return { connected, failed };
}

process.on('message', async (msg: any) => {
  if (msg.cmd === 'connect') process.send!(await connectAll(msg.urls, msg.localAddress, msg.waitWelcome));
  else if (msg.cmd === 'report') {
    process.send!({ latencies, segments, bcast, frames, open: sockets.filter((s) => s.readyState === WebSocket.OPEN).length });
    latencies = [];
    segments = [];
    bcast = {};
  } else if (msg.cmd === 'close') {
    for (const s of sockets.splice(0)) s.terminate();
    process.send!({ closed: true });
  } else if (msg.cmd === 'exit') process.exit(0);
});
