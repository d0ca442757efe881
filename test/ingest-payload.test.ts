import { describe, expect, test } from 'vitest';
import type { NotificationDraft } from '../queues/jobs.js';
import { draftsOf, packDrafts } from '../queues/ingest-payload.js';

const draft = (i: number, over: Partial<NotificationDraft> = {}): NotificationDraft => ({
  id: `id-${i}`,
  tenant: 't',
  target: { kind: 'user', id: `u${i}` },
  title: 'Your order',
  content: '您的订单已确认',
  type: 'info',
  priority: 'normal',
  channels: ['app', 'email'],
  fallback_channels: [],
  metadata: { order: { id: 7, tags: ['a'] } },
  source: null,
  group_key: null,
  idempotency_key: null,
  sender: 'svc',
  created_at: '2026-12-06T03:00:00.000Z',
  schedule_at: null,
  url: null,
  image_url: null,
  actions: [],
  ...over,
});

/** The job data as it comes back out of Redis. */
const throughJson = <T>(v: T): T => JSON.parse(JSON.stringify(v));

describe('ingest job payload', () => {
  test('shared fields are written once and every notification comes back whole', () => {
    const drafts = Array.from({ length: 500 }, (_, i) => draft(i));
    const packed = packDrafts(drafts);
    expect(Object.keys(packed.shared!).sort()).not.toContain('id');
    expect(packed.shared).toMatchObject({ tenant: 't', title: 'Your order', metadata: { order: { id: 7, tags: ['a'] } }, channels: ['app', 'email'] });
    expect(packed.notifications[3]).toEqual({ id: 'id-3', target: { kind: 'user', id: 'u3' } });
    expect(JSON.stringify(packed).length).toBeLessThan(JSON.stringify({ notifications: drafts }).length / 3);
    expect(draftsOf(throughJson(packed))).toEqual(drafts);
  });

  test('a field one notification has differently, or lacks, stays with each notification', () => {
    const drafts = [draft(0), draft(1, { metadata: { order: { id: 7, tags: ['b'] } } }), draft(2, { title: 'Other' }), draft(3)];
    delete (drafts[3] as Partial<NotificationDraft>).url;
    drafts[1].except = ['x'];
    const packed = packDrafts(drafts);
    expect(packed.shared).not.toHaveProperty('metadata');
    expect(packed.shared).not.toHaveProperty('title');
    expect(packed.shared).not.toHaveProperty('url');
    expect(packed.shared).toHaveProperty('content');
    expect(draftsOf(throughJson(packed))).toEqual(drafts);
  });

  test('every notification comes back with its fields in one order, whatever its job shared', () => {
    const sameTitle = draftsOf(throughJson(packDrafts([draft(0), draft(1)])));
    const ownTitles = draftsOf(throughJson(packDrafts([draft(2, { title: 'a' }), draft(3, { title: 'b', metadata: {} })])));
    expect(Object.keys(ownTitles[0])).toEqual(Object.keys(sameTitle[0]));
    expect(Object.keys(sameTitle[0])).toEqual(Object.keys(draft(0)));
  });

  test('one notification, and jobs written before `shared`, are read as they are', () => {
    expect(packDrafts([draft(0)])).toEqual({ notifications: [draft(0)] });
    const old = { notifications: [draft(0), draft(1)] };
    expect(draftsOf(old)).toEqual(old.notifications);
  });
});
