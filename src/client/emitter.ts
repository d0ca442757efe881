/**
 * A tiny typed event emitter: `on` returns the function that unsubscribes.
 * A listener that throws does not stop the others (an app's bug in one
 * handler must not cost another handler its events), it is reported async.
 */
export class Emitter<Events extends object> {
  private listeners: { [K in keyof Events]?: Set<(value: Events[K]) => void> } = {};

  on<K extends keyof Events>(name: K, fn: (value: Events[K]) => void): () => void {
    const set = (this.listeners[name] ??= new Set());
    set.add(fn);
    return () => {
      set.delete(fn);
    };
  }

  emit<K extends keyof Events>(name: K, value: Events[K]): void {
    for (const fn of [...(this.listeners[name] ?? [])]) {
      try {
        fn(value);
      } catch (err) {
        setTimeout(() => {
          throw err;
        });
      }
    }
  }

  clear(): void {
    this.listeners = {};
  }
}
