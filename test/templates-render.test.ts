import { expect, test } from 'vitest';
import { UnprocessableError } from '../src/errors.js';
import { renderLiquid, syntaxError, variablesOf } from '../src/domain/templates/liquid.js';
import { renderTemplate } from '../src/domain/templates/send.js';

test('{name} (智链OS) and {{name}} placeholders are both filled', () => {
  expect(renderLiquid('订单 {order_id} 预计 {{ eta }} 送达', { order_id: 'A-1', eta: '30分钟' }).text).toBe('订单 A-1 预计 30分钟 送达');
});

test('nested paths reach into objects and arrays', () => {
  const vars = { order: { id: 'o-9', items: ['鸡肉', '米饭'], total: { amount: 42.5 } } };
  expect(renderLiquid('{{order.id}}: {order.items} = {{order.total.amount}} / {order.items.1}', vars).text).toBe('o-9: 鸡肉, 米饭 = 42.5 / 米饭');
});

test('numbers, booleans and zero are values, not blanks', () => {
  expect(renderLiquid('{a}|{b}|{c}', { a: 0, b: false, c: '' }).text).toBe('0|false|');
});

test('a missing or null variable is reported by name, never rendered as a blank', () => {
  const r = renderLiquid('{a} {{order.id}} {b} {a}', { b: null, order: {} });
  expect(r.missing).toEqual(['a', 'order.id', 'b']);
  expect(r.text).toContain('{a}');
});

test('JSON and CSS braces are left alone; an unbalanced {{ is a syntax error named when the template is saved', () => {
  expect(renderLiquid('p {color: red} {"a": 1} { x }', {}).text).toBe('p {color: red} {"a": 1} { x }');
  expect(variablesOf('{a} {{ b.c }} {color: red}')).toEqual(['a', 'b.c']);
  expect(syntaxError('{{ y')).toMatch(/not closed/);
});

test('values are HTML-escaped only where the output is HTML', () => {
  const vars = { item: '<script>alert("x")</script> & Co' };
  expect(renderLiquid('{item}', vars).text).toBe('<script>alert("x")</script> & Co');
  expect(renderLiquid('<b>{item}</b>', vars, { html: true }).text).toBe('<b>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co</b>');
});

test('a template renders title, content and channel texts; HTML keys are escaped, the rest are not', () => {
  const r = renderTemplate(
    {
      name: 't',
      title: '预警 {item}',
      content: '{item} 不足',
      channel_overrides: { email: { subject: '【{title}】', html: '<p>{item}</p>' }, sms: { template_code: 'SMS_{code}' } },
    },
    { item: 'A<B', code: '1' },
  );
  expect(r).toEqual({
    title: '预警 A<B',
    content: 'A<B 不足',
    channels: { email: { subject: '【预警 A<B】', html: '<p>A&lt;B</p>' }, sms: { template_code: 'SMS_1' } },
  });
});

test('every missing variable of every text is named in one 422', () => {
  let err: unknown;
  try {
    renderTemplate({ name: 'inventory_low', title: '{x}', content: '{item_name}: {current_stock}', channel_overrides: { email: { html: '{x}' } } }, {
      item_name: '鸡肉',
    });
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(UnprocessableError);
  const e = err as UnprocessableError;
  expect(e.status).toBe(422);
  expect(e.errors?.map((x) => x.path)).toEqual(['template_vars.x', 'template_vars.current_stock']);
  expect(e.errors?.[0].message).toContain('title, email.html');
});
