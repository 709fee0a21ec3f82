/**
 * Direct mode's memory of what this warm instance submitted to HSS, keyed by `scanKey` (image and
 * pushed digest), so that a retried delivery is not sent again while a re-push with new content
 * is. An image is reserved before its call and remembered only once HSS accepted it, and a
 * concurrent delivery of the same image sees the reservation: check and record are one step, as
 * nothing awaits in between. It is per instance and bounded (10,000 images, oldest
 * forgotten first). The in-process queue keeps its memory of accepted pushes here too; the Redis
 * queue keeps the same memory in Redis, for every instance sharing it.
 */

export type Reservation =
  | { key: string; status: "reserved" }
  | { key: string; status: "in_flight" }
  | { key: string; status: "submitted_recently"; submittedAt: number };

export class SubmittedImages {
  // Map keeps insertion order: the first entry is always the oldest.
  private readonly submittedAt = new Map<string, number>();
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  reserve(keys: readonly string[]): Reservation[] {
    return keys.map((key): Reservation => {
      if (this.inFlight.has(key)) return { key, status: "in_flight" };
      const at = this.acceptedAt(key);
      if (at !== undefined) return { key, status: "submitted_recently", submittedAt: at };
      this.inFlight.add(key);
      return { key, status: "reserved" };
    });
  }

  /** When HSS accepted `key`, if that was within `windowMs`. */
  acceptedAt(key: string, windowMs = this.windowMs): number | undefined {
    this.evict();
    const at = this.submittedAt.get(key);
    return at !== undefined && this.now() - at < windowMs ? at : undefined;
  }

  /** HSS accepted these: remember them for the window (not at all when it is 0). */
  confirm(keys: readonly string[], windowMs = this.windowMs): void {
    for (const key of keys) {
      this.inFlight.delete(key);
      if (windowMs <= 0) continue;
      this.submittedAt.delete(key);
      this.submittedAt.set(key, this.now());
    }
    this.evict();
  }

  /** These were not accepted: a later delivery may send them. */
  cancel(keys: readonly string[]): void {
    for (const key of keys) this.inFlight.delete(key);
  }

  get size(): number {
    return this.submittedAt.size;
  }

  private evict(): void {
    const oldestAllowed = this.now() - this.windowMs;
    for (const [key, at] of this.submittedAt) {
      if (this.submittedAt.size <= this.maxEntries && at > oldestAllowed) break;
      this.submittedAt.delete(key);
    }
  }
}
