/**
 * Answers kept for a few seconds, per key: callers within `ttlMs` share one answer (and one
 * computation in flight), so a page polled by many tabs, or by a script, costs the host one.
 * A failed computation is not kept.
 */
export class TtlCache<V> {
  private readonly entries = new Map<string, { at: number; value: Promise<V> }>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(key: string, make: () => Promise<V>): Promise<V> {
    const t = this.now();
    for (const [k, e] of this.entries) if (t - e.at >= this.ttlMs) this.entries.delete(k);
    const hit = this.entries.get(key);
    if (hit) return hit.value;
    const value = make();
    this.entries.set(key, { at: t, value });
    value.catch(() => this.entries.delete(key));
    return value;
  }

  /** Forgets a key at once (its state changed: a check, a reset). */
  drop(key: string): void {
    this.entries.delete(key);
  }
}
