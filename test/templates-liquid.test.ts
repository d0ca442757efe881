import { expect, test } from 'vitest';
import { UnprocessableError } from '../src/errors.js';
import { ParsedTemplateCache } from '../src/domain/templates/cache.js';
import { parseText, renderLiquid, syntaxError, translateBraces, variablesOf } from '../src/domain/templates/liquid.js';
import { renderTemplate } from '../src/domain/templates/send.js';
import { checkSyntax } from '../src/domain/templates/templates.js';
import { textsFor } from '../src/domain/templates/variants.js';

const text = (t: string, vars: Record<string, unknown> = {}, opts: Parameters<typeof renderLiquid>[2] = {}) => {
  const r = renderLiquid(t, vars, opts);
  expect(r.missing).toEqual([]);
  return r.text;
};

const caught = (fn: () => unknown): UnprocessableError => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UnprocessableError);
    return err as UnprocessableError;
  }
  throw new Error('expected an UnprocessableError');
};

test('conditionals choose a branch; an absent variable in a condition is false, not an error', () => {
  const t = '{% if vip %}尊敬的会员 {name}{% elsif name %}{{ name }}{% else %}顾客{% endif %}';
  expect(text(t, { vip: true, name: '王' })).toBe('尊敬的会员 王');
  expect(text(t, { name: '王' })).toBe('王');
  expect(text(t, {})).toBe('顾客');
  expect(text('{{ note | default: "无" }}')).toBe('无');
});

test('loops walk lists, with forloop and filters', () => {
  const t = '{% for i in items %}{{ forloop.index }}. {{ i.name | upcase }} x{{ i.qty }}{% unless forloop.last %}; {% endunless %}{% endfor %}';
  expect(text(t, { items: [{ name: 'rice', qty: 2 }, { name: 'tea', qty: 1 }] })).toBe('1. RICE x2; 2. TEA x1');
  expect(text('{{ tags | join: "/" }} {{ tags | size }}', { tags: ['a', 'b', 'c'] })).toBe('a/b/c 3');
});

test("date prints in the recipient's time zone", () => {
  const t = '{{ at | date: "%Y-%m-%d %H:%M" }}';
  const at = '2026-12-05T20:30:00Z';
  expect(text(t, { at }, { timezone: 'Asia/Shanghai' })).toBe('2026-12-06 04:30');
  expect(text(t, { at }, { timezone: 'America/New_York' })).toBe('2026-12-05 15:30');
  expect(text(t, { at })).toBe('2026-12-05 20:30');
});

test("currency formats in the recipient's locale", () => {
  expect(text('{{ amount | currency: "CNY" }}', { amount: 1234.5 }, { locale: 'zh-CN' })).toBe('¥1,234.50');
  expect(text('{{ amount | currency: "USD" }}', { amount: '1234.5' }, { locale: 'en-US' })).toBe('$1,234.50');
  expect(text('{{ amount | currency: "EUR" }}', { amount: 1234.5 }, { locale: 'de-DE' })).toBe('1.234,50\u00a0€');
  expect(text('{{ amount | currency }}', { amount: 8 }, { locale: 'zh-CN' })).toBe('¥8.00');
});

test('strict variables: every printed variable that is absent or null is named, in order, the first step of a path included', () => {
  expect(renderLiquid('{a} {{ order.id }} {b} {a} {% for x in lines %}{{ x }}{% endfor %}', { b: null, order: {} }).missing).toEqual([
    'a',
    'order.id',
    'b',
    'lines',
  ]);
  expect(renderLiquid('{{ customer.address.city }}', {}).missing).toEqual(['customer.address.city']);
  expect(renderLiquid('{{ o.constructor }} {{ o.__proto__ }}', { o: {} }).missing).toEqual(['o.constructor', 'o.__proto__']);
  const e = caught(() => renderTemplate({ name: 't', title: '{x}', content: '{% if y %}{{ z }}{% endif %}', channel_overrides: {} }, { y: 1 }));
  expect(e.errors).toEqual([
    { path: 'template_vars.x', message: 'is required by template t (title)' },
    { path: 'template_vars.z', message: 'is required by template t (content)' },
  ]);
});

test('strict filters: an unknown filter is a syntax error naming it', () => {
  expect(syntaxError('{{ x | shout }}')).toMatch(/undefined filter: shout/);
  const e = caught(() => checkSyntax({ title: 'ok', variants: { 'zh-CN': { email: { html: '<p>{{ x | shout }}</p>' } } } }));
  expect(e.errors?.[0].path).toBe('variants.zh-CN.email.html');
  expect(e.errors?.[0].message).toMatch(/undefined filter: shout/);
});

test('{x} placeholders still read as {{x}}, and only where they are placeholders', () => {
  expect(text('订单 {order_id} 预计 {{ eta }} 送达，第 {items.1} 件', { order_id: 'A-1', eta: '30分钟', items: ['a', 'b'] })).toBe(
    '订单 A-1 预计 30分钟 送达，第 b 件',
  );
  expect(text('{% if vip %}{name}{% endif %}', { vip: true, name: '王' })).toBe('王');
  expect(translateBraces('p {color: red} {"a": 1} { x } {{ y }} {% if a %}{b}{% endif %}')).toBe(
    'p {color: red} {"a": 1} { x } {{ y }} {% if a %}{{b}}{% endif %}',
  );
  expect(text('{% raw %}{x} {{ y }}{% endraw %} {{ "{z}" }}')).toBe('{x} {{ y }} {z}');
  expect(text('{list} {obj} {n} {f}', { list: ['鸡肉', '米饭'], obj: { a: 1 }, n: 0, f: false })).toBe('鸡肉, 米饭 {"a":1} 0 false');
});

test('no file system: include, render and layout are refused when the text is parsed', () => {
  for (const t of ["{% include '/etc/passwd' %}", '{% include /etc/passwd %}', "{% render '../../package.json' %}", "{% layout 'base' %}"]) {
    expect(syntaxError(t)).toMatch(/cannot read files/);
    expect(() => renderLiquid(t, {})).toThrow(/cannot read files/);
  }
  const e = caught(() => checkSyntax({ content: "hi {% include '/etc/passwd' %}" }));
  expect(e.status).toBe(422);
  expect(e.errors).toEqual([{ path: 'content', message: expect.stringContaining('cannot read files') }]);
});

test('a runaway loop stops with a 422, not a hung process', () => {
  const e = caught(() => renderTemplate({ name: 't', title: 't', content: '{% for i in (1..100000000) %}xxxxxxxx{% endfor %}', channel_overrides: {} }, {}));
  expect(e.errors?.[0].path).toBe('content');
});

test('values are escaped in the email HTML only; subject, text and SMS bodies get them as they are', () => {
  const r = renderTemplate(
    {
      name: 't',
      title: '{item}',
      content: '{item}',
      channel_overrides: {
        email: { subject: '{{ item }}', html: '<b>{{ item }}</b> {{ item | raw }}', text: '{item}' },
        sms: { text: '{item}' },
        wechat: { markdown: '**{item}**' },
      },
    },
    { item: '<script>"x"</script> & Co' },
  );
  const raw = '<script>"x"</script> & Co';
  expect(r.channels.email).toEqual({ subject: raw, html: `<b>&lt;script&gt;&quot;x&quot;&lt;/script&gt; &amp; Co</b> ${raw}`, text: raw });
  expect(r.channels.sms.text).toBe(raw);
  expect(r.channels.wechat.markdown).toBe(`**${raw}**`);
  expect([r.title, r.content]).toEqual([raw, raw]);
});

test('a locale picks its variant, falling back zh-TW → zh → the template itself; a variant overrides only what it names', () => {
  const t = {
    title: 'Default',
    content: 'default',
    channel_overrides: { email: { subject: 'S', html: '<p>H</p>' } },
    variants: { 'zh-CN': { title: '简体' }, zh: { title: '中文', email: { subject: '主题' } }, en: { content: 'english' } },
  };
  expect(textsFor(t, 'zh-CN')).toMatchObject({ locale: 'zh-CN', title: '简体', content: 'default' });
  expect(textsFor(t, 'zh_cn')).toMatchObject({ locale: 'zh-CN' });
  expect(textsFor(t, 'zh-TW')).toMatchObject({ locale: 'zh', title: '中文', channel_overrides: { email: { subject: '主题', html: '<p>H</p>' } } });
  expect(textsFor(t, 'en-GB')).toMatchObject({ locale: 'en', title: 'Default', content: 'english' });
  expect(textsFor(t, 'fr')).toMatchObject({ locale: null, title: 'Default' });
  expect(textsFor(t, null)).toMatchObject({ locale: null });
});

test("the template's variables are what it reads from the caller, not its loop or assigned names", () => {
  expect(variablesOf('{% for i in items %}{{ i.name }}{% endfor %}{a.b} {{ c | default: d }}{% assign z = e %}{{ z }}')).toEqual(['items', 'a.b', 'c', 'd', 'e']);
});

test('a text is parsed once and its parse reused; the least recently used parse leaves first', () => {
  const t = `cached {x} ${Math.random()}`;
  expect(parseText(t)).toBe(parseText(t));
  expect(parseText(t, { html: true })).not.toBe(parseText(t));
  const cache = new ParsedTemplateCache<number>(2);
  let parses = 0;
  const get = (k: string) => cache.get(k, () => ++parses);
  get('a');
  get('b');
  get('a');
  get('c'); // b is the least recently used
  expect([get('a'), get('c'), parses]).toEqual([1, 3, 3]);
  expect(get('b')).toBe(4);
  expect(cache.size).toBe(2);
});
