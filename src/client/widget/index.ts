/// <reference lib="dom" />
/**
 * The entry point esbuild bundles into /client/herald-inbox.js: importing it
 * defines `<herald-inbox>`; it also exports everything herald-client.js
 * does, so a page that loads the widget needs no second script for the client.
 */
import { HeraldInbox } from './herald-inbox.js';

export * from '../index.js';
export { HeraldInbox };
export type { WidgetLocale } from './strings.js';

if (typeof customElements !== 'undefined' && !customElements.get('herald-inbox')) customElements.define('herald-inbox', HeraldInbox);
