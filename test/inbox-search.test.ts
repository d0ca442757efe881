import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
  await h.startIngest();
});
afterAll(() => h.close());

/** A tenant of its own with a reader and a sender in it, so no other test's notifications reach the inbox. */
async function world(roles: string[] = []) {
  const tenant = uniq('search-tenant');
  const user = uniq('reader');
  return {
    tenant,
    user,
    reader: await h.token({ sub: user, tenant, roles }),
    sender: await h.token({ sub: 'svc', tenant, scope: 'notify:send' }),
  };
}

/** Sends one notification and waits until the ingest worker has stored it. */
async function deliver(sender: string, body: Record<string, unknown>): Promise<string> {
  const r = await h.request('POST', '/api/v1/notifications', { token: sender, body: { content: 'C', ...body } });
  expect(r.status).toBe(202);
  const [id] = r.body.ids as string[];
  await waitFor(async () => {
    const rows = await h.orm.em.fork().execute(`select count(*)::int as n from notifications where id = ? and seq is not null`, [id]);
    return rows[0].n === 1;
  });
  return id;
}

const search = async (token: string, q: string, more = '') => {
  const r = await h.request('GET', `/api/v1/notifications?q=${encodeURIComponent(q)}${more}`, { token });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
};
const titles = async (token: string, q: string, more = '') => (await search(token, q, more)).notifications.map((n: any) => n.title);

describe('GET /notifications?q=', () => {
  test('finds a Chinese substring in the title or the content, of every audience the user is in', async () => {
    const role = uniq('role');
    const w = await world([role]);
    await deliver(w.sender, { user_id: w.user, title: '您的订单已发货', content: '预计三天内送达' });
    await deliver(w.sender, { user_id: w.user, title: '支付成功', content: '订单 1042 的款项已到账' });
    await deliver(w.sender, { role, title: '门店订单汇总', content: '今日 12 单' });
    await deliver(w.sender, { user_id: w.user, title: '库存不足提醒', content: 'SKU-7 低于安全线' });

    expect(await titles(w.reader, '订单')).toEqual(['门店订单汇总', '支付成功', '您的订单已发货']);
    const body = await search(w.reader, '订单');
    expect(body).toMatchObject({ total: 3, page: 1, total_pages: 1, next_cursor: null });
    // one character, which no trigram can answer, still finds it
    expect(await titles(w.reader, '单')).toEqual(['门店订单汇总', '支付成功', '您的订单已发货']);
    expect(await titles(w.reader, '送达')).toEqual(['您的订单已发货']);
    expect(await titles(w.reader, '退款')).toEqual([]);
  });

  test('one and two Chinese characters are found, and only in a row', async () => {
    const w = await world();
    await deliver(w.sender, { user_id: w.user, title: '订单已发货', content: '请留意快递' });
    await deliver(w.sender, { user_id: w.user, title: '退款到账', content: '退款 12 元已原路退回' });
    await deliver(w.sender, { user_id: w.user, title: '库存提醒', content: '单品库存不足' });
    await deliver(w.sender, { user_id: w.user, title: '核对', content: '订单与单已核对' });

    expect(await titles(w.reader, '单')).toEqual(['核对', '库存提醒', '订单已发货']);
    expect(await titles(w.reader, '订单')).toEqual(['核对', '订单已发货']);
    expect(await titles(w.reader, '退')).toEqual(['退款到账']);
    expect(await titles(w.reader, '退款')).toEqual(['退款到账']);
    expect(await titles(w.reader, '库存')).toEqual(['库存提醒']);
    // 订 and 货 are both in 订单已发货, apart: 订货 is not in it
    expect(await titles(w.reader, '订货')).toEqual([]);
    // 订单与单已核对 holds 订单 and 单已, apart: not 订单已
    expect(await titles(w.reader, '订单已')).toEqual(['订单已发货']);
    // 订单发 holds the pair 单发, which no row has
    expect(await titles(w.reader, '订单发')).toEqual([]);
    // 货 ends the title and 请 begins the content: 货请 is in neither
    expect(await titles(w.reader, '货请')).toEqual([]);
  });

  test('a space in q matches only a space there, and Latin letters match in any case', async () => {
    const w = await world();
    await deliver(w.sender, { user_id: w.user, title: 'Ab cd', content: 'x' });
    await deliver(w.sender, { user_id: w.user, title: 'Abcd', content: 'x' });
    await deliver(w.sender, { user_id: w.user, title: 'ÉTÉ summer', content: 'v' });

    expect(await titles(w.reader, 'b c')).toEqual(['Ab cd']);
    expect(await titles(w.reader, 'bc')).toEqual(['Abcd']);
    expect(await titles(w.reader, 'aB')).toEqual(['Abcd', 'Ab cd']);
    expect(await titles(w.reader, 'été')).toEqual(['ÉTÉ summer']);
    expect(await titles(w.reader, 'v')).toEqual(['ÉTÉ summer']);
  });

  test('Chinese with Latin letters matches them in any case; Chinese, digits and punctuation alone match as written', async () => {
    const w = await world();
    await deliver(w.sender, { user_id: w.user, title: 'SKU-7 库存不足', content: '请补货' });
    await deliver(w.sender, { user_id: w.user, title: '订单 1042', content: 'Order 1042 shipped' });

    expect(await titles(w.reader, 'sku-7 库')).toEqual(['SKU-7 库存不足']);
    expect(await titles(w.reader, '-7 库存')).toEqual(['SKU-7 库存不足']);
    expect(await titles(w.reader, '1042')).toEqual(['订单 1042']);
    expect(await titles(w.reader, 'oRDER 10')).toEqual(['订单 1042']);
  });

  test('one or two Latin letters match in any case, İ and the Kelvin sign as i and k', async () => {
    const w = await world();
    await deliver(w.sender, { user_id: w.user, title: 'İzmir office', content: 'x' });
    await deliver(w.sender, { user_id: w.user, title: 'ZMART', content: 'x' });
    await deliver(w.sender, { user_id: w.user, title: 'Cooling to 4 \u212A', content: 'x' });

    expect(await titles(w.reader, 'zm')).toEqual(['ZMART', 'İzmir office']);
    expect(await titles(w.reader, 'Z')).toEqual(['ZMART', 'İzmir office']);
    expect(await titles(w.reader, 'iz')).toEqual(['İzmir office']);
    expect(await titles(w.reader, '4 k')).toEqual(['Cooling to 4 \u212A']);
    expect(await titles(w.reader, 'k')).toEqual(['Cooling to 4 \u212A']);
  });

  test('Latin text matches whatever its case, and q is trimmed', async () => {
    const w = await world();
    await deliver(w.sender, { user_id: w.user, title: 'Order shipped', content: 'On its way' });
    await deliver(w.sender, { user_id: w.user, title: 'Payment received', content: 'for your ORDER 1042' });
    await deliver(w.sender, { user_id: w.user, title: 'Backup completed', content: 'nothing to see' });

    expect(await titles(w.reader, 'ORDER')).toEqual(['Payment received', 'Order shipped']);
    expect(await titles(w.reader, 'order')).toEqual(['Payment received', 'Order shipped']);
    expect(await titles(w.reader, '  oRdEr  ')).toEqual(['Payment received', 'Order shipped']);
  });

  test('%, _ and \\ match themselves, not any text', async () => {
    const w = await world();
    await deliver(w.sender, { user_id: w.user, title: '50% off today' });
    await deliver(w.sender, { user_id: w.user, title: '500 off today' });
    await deliver(w.sender, { user_id: w.user, title: 'file_name.txt' });
    await deliver(w.sender, { user_id: w.user, title: 'filexname.txt' });
    await deliver(w.sender, { user_id: w.user, title: 'C:\\reports' });

    expect(await titles(w.reader, '50%')).toEqual(['50% off today']);
    expect(await titles(w.reader, '%')).toEqual(['50% off today']);
    expect(await titles(w.reader, 'file_name')).toEqual(['file_name.txt']);
    expect(await titles(w.reader, '_')).toEqual(['file_name.txt']);
    expect(await titles(w.reader, '\\')).toEqual(['C:\\reports']);
  });

  test('matches the title or the content, never text spanning the two', async () => {
    const w = await world();
    await deliver(w.sender, { user_id: w.user, title: 'Alpha', content: 'Beta' });
    await deliver(w.sender, { user_id: w.user, title: 'Gamma', content: 'Alpha\nBeta' });
    expect(await titles(w.reader, 'Alpha\nBeta')).toEqual(['Gamma']);
  });

  test('combines with the other filters', async () => {
    const w = await world();
    const first = await deliver(w.sender, { user_id: w.user, title: '订单 1 已签收', type: 'success' });
    await deliver(w.sender, { user_id: w.user, title: '订单 2 已签收', type: 'warning' });
    await deliver(w.sender, { user_id: w.user, title: '订单 3 已签收', type: 'success' });
    await deliver(w.sender, { user_id: w.user, title: '排班变更', type: 'success' });
    expect((await h.request('PUT', `/api/v1/notifications/${first}/read`, { token: w.reader })).status).toBe(200);

    expect(await titles(w.reader, '签收', '&is_read=false')).toEqual(['订单 3 已签收', '订单 2 已签收']);
    expect(await titles(w.reader, '签收', '&is_read=true')).toEqual(['订单 1 已签收']);
    expect(await titles(w.reader, '签收', '&type=success')).toEqual(['订单 3 已签收', '订单 1 已签收']);
    expect((await search(w.reader, '签收', '&is_read=false')).total).toBe(2);
  });

  test('cursor paging walks every match and only matches, page by page', async () => {
    const w = await world();
    const expected: string[] = [];
    for (let i = 0; i < 7; i++) {
      await deliver(w.sender, { user_id: w.user, title: `Order ${i} shipped` });
      if (i % 2 === 0) await deliver(w.sender, { user_id: w.user, title: `Shift ${i} changed` });
      expected.unshift(`Order ${i} shipped`);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const body: any = await search(w.reader, 'order', `&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      // the first page counts the matches; keyset pages after it do not
      expect(body.total).toBe(cursor ? null : 7);
      seen.push(...body.notifications.map((n: any) => n.title));
      cursor = body.next_cursor;
      pages++;
    } while (cursor);
    expect(seen).toEqual(expected);
    expect(pages).toBe(3);
    // numbered pages agree, with the total of matches
    const page2 = await search(w.reader, 'ORDER', '&page=2&page_size=3');
    expect(page2.notifications.map((n: any) => n.title)).toEqual(expected.slice(3, 6));
    expect(page2).toMatchObject({ total: 7, page: 2, total_pages: 3 });
  });

  test("a user never sees another user's matches", async () => {
    const w = await world();
    const other = uniq('other');
    const otherToken = await h.token({ sub: other, tenant: w.tenant });
    await deliver(w.sender, { user_id: w.user, title: '您的订单已发货 (mine)' });
    await deliver(w.sender, { user_id: other, title: '您的订单已发货 (theirs)' });
    // the same user name in another tenant is another user
    const elsewhere = await h.token({ sub: 'svc', tenant: uniq('elsewhere'), scope: 'notify:send' });
    await deliver(elsewhere, { user_id: w.user, title: '您的订单已发货 (other tenant)' });

    expect(await titles(w.reader, '订单已发货')).toEqual(['您的订单已发货 (mine)']);
    expect(await titles(otherToken, '订单已发货')).toEqual(['您的订单已发货 (theirs)']);
    expect(await titles(w.reader, 'theirs')).toEqual([]);
  });

  test('a q empty after trimming, or over 100 characters, is a problem naming q', async () => {
    const w = await world();
    for (const q of ['', '   ', 'x'.repeat(101), '订'.repeat(101)]) {
      const r = await h.request('GET', `/api/v1/notifications?q=${encodeURIComponent(q)}`, { token: w.reader });
      expect(r.status, q).toBe(400);
      expect(r.headers.get('content-type')).toContain('application/problem+json');
      expect(r.body.errors.map((e: any) => e.path)).toEqual(['q']);
    }
    // 100 characters is allowed
    expect((await search(w.reader, '订'.repeat(100))).notifications).toEqual([]);
  });
});

describe('the total of a search', () => {
  test('counts up to 1,000 matches, then says there are more; without q the total is exact', async () => {
    const w = await world();
    const bulk = async (notifications: Array<Record<string, unknown>>) => {
      const r = await h.request('POST', '/api/v1/notifications/bulk', { token: w.sender, body: { notifications } });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
    };
    const stored = (n: number) =>
      waitFor(async () => {
        const rows = await h.orm.em.fork().execute(`select count(*)::int as n from notifications where tenant = ? and seq is not null`, [w.tenant]);
        return rows[0].n === n;
      }, 60_000);
    await bulk(Array.from({ length: 1000 }, (_, i) => ({ user_id: w.user, title: `Order ${i} shipped`, content: 'C' })));
    await bulk(Array.from({ length: 5 }, (_, i) => ({ user_id: w.user, title: `Shift ${i} changed`, content: 'C' })));
    await stored(1005);

    // exactly 1,000 matches: counted, not capped
    expect(await search(w.reader, 'order', '&page_size=20')).toMatchObject({ total: 1000, total_capped: false, total_pages: 50 });
    await deliver(w.sender, { user_id: w.user, title: 'Order 1000 shipped' });
    const body = await search(w.reader, 'order', '&page_size=20');
    expect(body).toMatchObject({ total: 1000, total_capped: true, total_pages: 50, page: 1 });
    expect(body.notifications[0].title).toBe('Order 1000 shipped');
    // the pages past the cap are still there
    const last = await search(w.reader, 'order', '&page=51&page_size=20');
    expect(last.notifications.map((n: any) => n.title)).toEqual(['Order 0 shipped']);
    // a rare q and the inbox without q are counted exactly
    expect(await search(w.reader, 'shift')).toMatchObject({ total: 5, total_capped: false });
    const all = await h.request('GET', '/api/v1/notifications?page_size=20', { token: w.reader });
    expect(all.body).toMatchObject({ total: 1006, total_capped: false, total_pages: 51 });
    // cursor paging counts nothing
    expect(await search(w.reader, 'order', `&cursor=${body.next_cursor}`)).toMatchObject({ total: null, total_capped: null });
  });
});
