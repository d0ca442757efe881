/**
 * The ids delivered lately, oldest forgotten first: how the client shows each
 * notification once however often a replay, a poll or another tab brings it
 * again. 5000 is far more than one replay or poll page brings.
 */
export class RecentIds {
  private readonly ids = new Set<string>();

  constructor(private readonly max = 5000) {}

  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** Remembers `id`; false when it was already known. */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.max) this.ids.delete(this.ids.values().next().value as string);
    return true;
  }

  values(): Iterable<string> {
    return this.ids;
  }
}
