import { afterAll, beforeAll, expect, test } from 'vitest';
import { createHarness, waitFor, type Harness } from './helpers/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
  await h.startIngest();
});
afterAll(() => h.close());

test('a notification sent over HTTP reaches the inbox through the queue', async () => {
  const svc = await h.serviceToken();
  const sent = await h.request('POST', '/api/v1/notifications', {
    token: svc,
    body: { title: '库存预警', message: '鸡肉库存不足', type: 'warning', priority: 'high', user_id: 'u1', extra_data: { item_id: 'i1' } },
  });
  expect(sent.status).toBe(202);
  const user = await h.token({ sub: 'u1' });
  const list = await waitFor(async () => {
    const r = await h.request('GET', '/api/v1/notifications', { token: user });
    return r.body.notifications.length ? r : null;
  });
  expect(list.body.notifications[0]).toMatchObject({ id: sent.body.id, title: '库存预警', is_read: false });
});
