/**
 * A bounded, short-lived memory of images this warm instance submitted to HSS, so that a
 * retried delivery (Harbor retries after a non-2xx answer or a timeout) does not scan again what
 * already went through. It is per instance: another instance, or this one after a cold start,
 * does not know about earlier submissions.
 */
export class RecentSubmissions {
  // Map keeps insertion order: the first entry is always the oldest.
  private readonly submittedAt = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** When `key` was submitted within the window, or undefined. */
  submittedWithinWindow(key: string): number | undefined {
    const at = this.submittedAt.get(key);
    if (at === undefined) return undefined;
    if (this.now() - at >= this.windowMs) {
      this.submittedAt.delete(key);
      return undefined;
    }
    return at;
  }

  remember(key: string): void {
    if (this.windowMs <= 0) return;
    this.submittedAt.delete(key);
    this.submittedAt.set(key, this.now());
    this.evict();
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
