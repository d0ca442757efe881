import { afterAll, beforeAll, expect, test } from 'vitest';
import { createHarness, uniq, type Harness } from './helpers/harness.js';
import { connect, startNode, type Client } from './helpers/ws-node.js';

/**
 * The 智链OS API's four push kinds (personal, role, store, broadcast) reach exactly
 * the sockets they should, with several users, roles and stores, and never
 * cross into another tenant that uses the same user, role and store names.
 */
let h: Harness;
let url: string;
/** two tenants of one deployment, using the same user, role and store names */
let A: string;
const B = uniq('tenant-b');

beforeAll(async () => {
  h = await createHarness();
  A = h.tenant;
  await h.startIngest();
  const node = await startNode(h);
  url = node.url();
});
afterAll(() => h?.close());

type Who = { sub: string; roles?: string[]; stores?: string[] };
const PEOPLE: Record<string, Who> = {
  alice: { sub: 'alice', roles: ['store_manager'], stores: ['s1'] },
  bob: { sub: 'bob', roles: ['cashier'], stores: ['s1'] },
  carol: { sub: 'carol', roles: ['store_manager', 'admin'], stores: ['s2'] },
  dave: { sub: 'dave', roles: [], stores: [] },
};

async function open(tenant: string, who: Who): Promise<Client> {
  const token = await h.token({ ...who, tenant });
  return connect(`${url}?token=${token}`);
}

async function send(tenant: string, body: Record<string, unknown>) {
  const svc = await h.token({ sub: uniq('svc'), tenant, scope: 'notify:send' });
  const res = await h.request('POST', '/api/v1/notifications', { token: svc, body: { type: 'info', ...body } });
  expect(res.status).toBe(202);
  return res.body.id as string;
}

const titles = (c: Client) => c.events().map((f) => f.title).sort();

test('personal, role, store and broadcast pushes reach exactly their sockets, per tenant', async () => {
  const inA: Record<string, Client> = {};
  const inB: Record<string, Client> = {};
  for (const [name, who] of Object.entries(PEOPLE)) {
    inA[name] = await open(A, who);
    inB[name] = await open(B, who);
  }
  // a second device of alice gets what alice gets
  const alice2 = await open(A, PEOPLE.alice);

  await send(A, { title: 'to-alice', message: 'personal', user_id: 'alice' });
  await send(A, { title: 'to-managers', message: 'role', role: 'store_manager' });
  await send(A, { title: 'to-s1', message: 'store', store_id: 's1' });
  await send(A, { title: 'to-all', message: 'broadcast', broadcast: true });
  await send(A, { title: 'to-bob-dave', content: 'VoiceHelper user_ids', user_ids: ['bob', 'dave'] });
  await send(B, { title: 'b-to-alice', message: 'other tenant', user_id: 'alice' });

  const expected: Record<string, string[]> = {
    alice: ['to-alice', 'to-all', 'to-managers', 'to-s1'],
    bob: ['to-all', 'to-bob-dave', 'to-s1'],
    carol: ['to-all', 'to-managers'],
    dave: ['to-all', 'to-bob-dave'],
  };
  for (const [name, list] of Object.entries(expected)) {
    await inA[name].until(() => inA[name].events().length >= list.length, 10_000, `${name}'s frames`);
  }
  await alice2.until(() => alice2.events().length >= 4, 10_000, `alice2 frames (closed: ${JSON.stringify(alice2.closed)}, alice1: ${inA.alice.events().length})`);
  await inB.alice.until(() => inB.alice.events().length >= 1);

  // a last personal frame to everyone: frames arrive in order, so anything stray would be in by now
  for (const name of Object.keys(PEOPLE)) {
    await send(A, { title: 'sentinel', message: 'end', user_id: name });
    await send(B, { title: 'sentinel', message: 'end', user_id: name });
  }
  for (const c of [...Object.values(inA), ...Object.values(inB), alice2]) {
    await c.until(() => c.events().some((f) => f.title === 'sentinel'), 10_000, 'sentinel');
  }

  const without = (c: Client) => titles(c).filter((t) => t !== 'sentinel');
  for (const [name, list] of Object.entries(expected)) expect(without(inA[name]), name).toEqual(list);
  expect(without(alice2)).toEqual(expected.alice);
  expect(without(inB.alice)).toEqual(['b-to-alice']);
  for (const name of ['bob', 'carol', 'dave']) expect(without(inB[name]), `tenant B ${name}`).toEqual([]);
  // every frame names its own tenant
  for (const c of Object.values(inA)) for (const f of c.events()) expect(f.tenant).toBe(A);
  for (const c of Object.values(inB)) for (const f of c.events()) expect(f.tenant).toBe(B);

  for (const c of [...Object.values(inA), ...Object.values(inB), alice2]) c.close();
});

test('a notification frame is the notification itself: seed clients read title and content unchanged', async () => {
  const c = await open(A, { sub: 'erin' });
  const id = await send(A, {
    title: '库存预警',
    message: '鸡肉库存不足,当前库存: 5kg,请及时补货',
    type: 'warning',
    priority: 'high',
    user_id: 'erin',
    extra_data: { item_id: 'chicken' },
  });
  const [frame] = await c.until(() => (c.events().length ? c.events() : null));
  const raw = JSON.parse(c.texts.find((t) => t.includes(id))!);
  // 智链OS clients: JSON.parse(event.data).title / .message / .extra_data; VoiceHelper clients: .content / .metadata
  expect(raw).toMatchObject({
    event: 'notification',
    id,
    title: '库存预警',
    message: '鸡肉库存不足,当前库存: 5kg,请及时补货',
    content: '鸡肉库存不足,当前库存: 5kg,请及时补货',
    type: 'warning',
    priority: 'high',
    user_id: 'erin',
    extra_data: { item_id: 'chicken' },
    metadata: { item_id: 'chicken' },
    is_read: false,
  });
  expect(frame.cursor).toMatch(/^\d+$/);
  c.close();
});
