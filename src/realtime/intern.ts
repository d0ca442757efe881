/**
 * One copy of each string (and list of strings) that many sockets share:
 * the tenant, role and store names of their tokens and the topics built
 * from them. Each socket's token is parsed on its own, so without this
 * every socket holds its own copy of "acme␟r:staff", "acme␟*" and the rest
 * (~550 bytes per socket of the node's heap, measured with 19,000 sockets
 * in bench/realtime). A node sees few distinct ones; past `max` (default
 * 100,000) new ones are simply not pooled.
 */
export class Interner {
  private readonly strings = new Map<string, string>();
  private readonly lists = new Map<string, string[]>();

  constructor(private readonly max = 100_000) {}

  string(s: string): string {
    const hit = this.strings.get(s);
    if (hit !== undefined) return hit;
    if (this.strings.size < this.max) this.strings.set(s, s);
    return s;
  }

  /** A shared copy of `xs` (its strings pooled too), frozen: never change it. */
  list(xs: readonly string[]): string[] {
    const key = xs.join('\u0000');
    const hit = this.lists.get(key);
    if (hit !== undefined) return hit;
    const copy = Object.freeze(xs.map((x) => this.string(x))) as string[];
    if (this.lists.size < this.max) this.lists.set(key, copy);
    return copy;
  }
}
