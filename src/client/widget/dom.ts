/// <reference lib="dom" />
type Child = Node | string | null | undefined | false;
type Props = Record<string, string | number | boolean | EventListener | null | undefined>;

/**
 * Builds an element. Strings become text nodes and attributes are set as
 * attributes, never parsed as HTML: whatever a notification says is shown
 * as the text it is. `on<event>` props add listeners; false, null and
 * undefined props are left out; true is an empty attribute.
 */
export function h(tag: string, props: Props = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === false || v == null) continue;
    if (typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c || c === '') el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return el;
}
