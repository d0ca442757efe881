/**
 * The URL to open for a notification or one of its actions, or null when it
 * is not http(s). The api accepts only http(s) links, but the widget may be
 * handed notifications from elsewhere (a cache, a proxy), and a
 * `javascript:` URL followed on click would run in the host page.
 */
export function safeUrl(raw: unknown, base?: string): string | null {
  if (typeof raw !== 'string' || !raw) return null;
  try {
    const url = new URL(raw, base);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}
