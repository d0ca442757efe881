import { createHmac, timingSafeEqual } from 'node:crypto';
import { Script, startHttpFake } from './http-fake.js';

/**
 * A webhook receiver that does what Herald's docs ask of one: recompute
 * HMAC-SHA256(secret, "<timestamp>.<body>"), compare in constant time,
 * refuse a timestamp more than 5 minutes away (401 either way), and keep
 * one event per X-Herald-Delivery.
 */
export async function startWebhookReceiver(secret: string) {
  const events: Array<{ delivery: string; body: any }> = [];
  const seen = new Set<string>();
  const script = new Script();
  let refused = 0;
  const fake = await startHttpFake((req) => {
    const ts = String(req.headers['x-herald-timestamp'] ?? '');
    const sig = String(req.headers['x-herald-signature'] ?? '');
    const expected = `sha256=${createHmac('sha256', secret).update(`${ts}.${req.body}`).digest('hex')}`;
    const fresh = Math.abs(Date.now() / 1000 - Number(ts)) <= 300;
    if (!fresh || sig.length !== expected.length || !timingSafeEqual(Buffer.from(sig), Buffer.from(expected))) {
      refused++;
      return { status: 401, json: { error: 'bad signature' } };
    }
    const outcome = script.take();
    if (outcome === 'timeout') return { hang: true };
    if (outcome === 'http500') return { status: 503, json: { error: 'busy' } };
    if (outcome === 'throttle') return { status: 429, headers: { 'retry-after': '1' }, json: { error: 'slow down' } };
    if (outcome === 'permanent') return { status: 410, json: { error: 'gone' } };
    const delivery = String(req.headers['x-herald-delivery'] ?? '');
    if (!seen.has(delivery)) {
      seen.add(delivery);
      events.push({ delivery, body: JSON.parse(req.body) });
    }
    return { status: 204 };
  });
  return {
    ...fake,
    events,
    script,
    get refused() {
      return refused;
    },
  };
}
