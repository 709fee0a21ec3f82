import type { Alert } from "./alert";
import type { RateRule } from "./channels/channel";

/**
 * Alerts waiting to be posted, kept in the queue's store (Redis: shared by every instance and
 * durable; memory: this process). An alert is keyed by (route, channel, digest, findings): one
 * already sent (remembered for NOTIFY_DEDUPE_DAYS) or already waiting is not added again; one
 * waiting gains the tags of a new push of its digest. Posting is claimed under a lease, so an
 * instance that dies mid-post leaves the alert to another after the lease.
 */

export interface OutboxEntry {
  key: string;
  route: string;
  channel: string;
  alert: Alert;
  /** When it was first put (epoch ms): retries stop NOTIFY_RETRY_SECONDS after it. */
  created_at: number;
  attempts: number;
  last_error?: { code: string; message: string; at: number };
}

export interface PutOutcome {
  added: number;
  /** Waiting already under their key: their new tags were added to it. */
  merged: number;
  /** Sent already under their key: nothing to do. */
  already_sent: number;
}

export interface RateTake {
  granted: number;
  /** When the next message may go, when none was granted (epoch ms, the store's clock). */
  nextAt: number;
}

export interface AlertOutbox {
  put(entries: OutboxEntry[], delayMs: number): Promise<PutOutcome>;
  /** Up to `limit` of the channel's alerts due now, each not due again for `leaseMs`. */
  claim(channel: string, limit: number, leaseMs: number): Promise<OutboxEntry[]>;
  /** Delivered: removed, and each key remembered as sent for `sentTtlMs`. */
  sent(entries: OutboxEntry[], sentTtlMs: number): Promise<void>;
  /** Due again `delayMs` from now, as given (attempts, last error). */
  retry(entries: OutboxEntry[], delayMs: number): Promise<void>;
  /** Given up: kept as dead letters for `queue status` and `queue retry-dead`. */
  bury(entries: OutboxEntry[]): Promise<void>;
  /**
   * Takes sends from the channel's rate (every rule at once): all `want` when the rate has them,
   * else one when it has one (for a summary), else none.
   */
  take(channel: string, rules: readonly RateRule[], want: number): Promise<RateTake>;
  /** The channel is not sent to until `delayMs` from now (a 429, a platform's block). */
  block(channel: string, delayMs: number): Promise<void>;
  /** Ms until the channel may be sent to again (0: now). */
  blockedFor(channel: string): Promise<number>;
  counts(): Promise<{ alerts_waiting: number; alerts_dead: number }>;
  dead(limit: number): Promise<OutboxEntry[]>;
  /** Every dead alert waiting again, from its first attempt; how many. */
  retryDead(): Promise<number>;
  /**
   * Dead alerts buried more than `retentionMs` ago dropped (DEAD_LETTER_RETENTION_DAYS, as the
   * queue's dead letters); how many. 0 keeps them all.
   */
  prune(retentionMs: number): Promise<number>;
}

/** The outbox's counts for the queue's, each only when not zero. */
export async function alertCounts(
  outbox: AlertOutbox,
): Promise<{ alerts_waiting?: number; alerts_dead?: number }> {
  const { alerts_waiting, alerts_dead } = await outbox.counts();
  return {
    ...(alerts_waiting ? { alerts_waiting } : {}),
    ...(alerts_dead ? { alerts_dead } : {}),
  };
}

/** Tags of a new push of the digest, added to the waiting alert (none twice, in order seen). */
export function mergeTags(into: string[], more: readonly string[]): string[] {
  const out = [...into];
  for (const tag of more) if (!out.includes(tag)) out.push(tag);
  return out;
}

/**
 * How many of the channel's rate a take may have: for each rule, its limit less what was sent in
 * its window (`times`, oldest first); and, when none, when the first slot frees.
 */
export function rateAllowance(
  times: readonly number[],
  rules: readonly RateRule[],
  now: number,
): { allowed: number; nextAt: number } {
  let allowed = Number.POSITIVE_INFINITY;
  let nextAt = now;
  for (const rule of rules) {
    const inWindow = times.filter((time) => time > now - rule.windowMs);
    const left = rule.limit - inWindow.length;
    allowed = Math.min(allowed, Math.max(0, left));
    if (left <= 0) {
      // The slot frees when the oldest send that keeps it full leaves the window.
      const freeing = inWindow[inWindow.length - rule.limit] ?? now;
      nextAt = Math.max(nextAt, freeing + rule.windowMs + 1);
    }
  }
  return { allowed: Number.isFinite(allowed) ? allowed : 0, nextAt };
}

/** All or one: `want` sends when `allowed` covers them, else one for a summary, else none. */
export function grantOf(want: number, allowed: number): number {
  return allowed >= want ? want : Math.min(1, allowed);
}

/** The outbox in this process (no SCAN_QUEUE, or tests): the same rules on an injected clock. */
export function memoryOutbox(now: () => number = Date.now): AlertOutbox {
  return new MemoryOutbox(now);
}

interface Waiting {
  entry: OutboxEntry;
  dueAt: number;
}

class MemoryOutbox implements AlertOutbox {
  private readonly waiting = new Map<string, Waiting>();
  private readonly sentUntil = new Map<string, number>();
  /** Dead alerts, each with when it was buried. */
  private readonly buried = new Map<string, { entry: OutboxEntry; at: number }>();
  private readonly sends = new Map<string, number[]>();
  private readonly blocked = new Map<string, number>();

  constructor(private readonly now: () => number) {}

  async put(entries: OutboxEntry[], delayMs: number): Promise<PutOutcome> {
    const outcome: PutOutcome = { added: 0, merged: 0, already_sent: 0 };
    const time = this.now();
    for (const entry of entries) {
      if ((this.sentUntil.get(entry.key) ?? 0) > time) {
        outcome.already_sent++;
        continue;
      }
      const present = this.waiting.get(entry.key)?.entry ?? this.buried.get(entry.key)?.entry;
      if (present) {
        present.alert.tags = mergeTags(present.alert.tags, entry.alert.tags);
        outcome.merged++;
        continue;
      }
      this.waiting.set(entry.key, { entry: structuredClone(entry), dueAt: time + delayMs });
      outcome.added++;
    }
    return outcome;
  }

  async claim(channel: string, limit: number, leaseMs: number): Promise<OutboxEntry[]> {
    const time = this.now();
    const due = [...this.waiting.values()]
      .filter((item) => item.entry.channel === channel && item.dueAt <= time)
      .sort((a, b) => a.dueAt - b.dueAt)
      .slice(0, limit);
    for (const item of due) item.dueAt = time + leaseMs;
    return due.map((item) => structuredClone(item.entry));
  }

  async sent(entries: OutboxEntry[], sentTtlMs: number): Promise<void> {
    const time = this.now();
    for (const entry of entries) {
      this.waiting.delete(entry.key);
      this.sentUntil.set(entry.key, time + sentTtlMs);
    }
    for (const [key, until] of this.sentUntil) if (until <= time) this.sentUntil.delete(key);
  }

  /** The entry as given, with the tags merged into it while it was out. */
  private current(entry: OutboxEntry): OutboxEntry {
    const present = this.waiting.get(entry.key)?.entry;
    const copy = structuredClone(entry);
    if (present) copy.alert.tags = mergeTags(copy.alert.tags, present.alert.tags);
    return copy;
  }

  async retry(entries: OutboxEntry[], delayMs: number): Promise<void> {
    const time = this.now();
    for (const entry of entries) {
      this.waiting.set(entry.key, { entry: this.current(entry), dueAt: time + delayMs });
    }
  }

  async bury(entries: OutboxEntry[]): Promise<void> {
    for (const entry of entries) {
      this.buried.set(entry.key, { entry: this.current(entry), at: this.now() });
      this.waiting.delete(entry.key);
    }
  }

  async take(channel: string, rules: readonly RateRule[], want: number): Promise<RateTake> {
    const time = this.now();
    const longest = Math.max(...rules.map((rule) => rule.windowMs));
    const times = (this.sends.get(channel) ?? []).filter((at) => at > time - longest);
    const { allowed, nextAt } = rateAllowance(times, rules, time);
    const granted = grantOf(want, allowed);
    for (let i = 0; i < granted; i++) times.push(time);
    this.sends.set(channel, times);
    return { granted, nextAt: granted > 0 ? time : nextAt };
  }

  async block(channel: string, delayMs: number): Promise<void> {
    this.blocked.set(channel, Math.max(this.blocked.get(channel) ?? 0, this.now() + delayMs));
  }

  async blockedFor(channel: string): Promise<number> {
    return Math.max(0, (this.blocked.get(channel) ?? 0) - this.now());
  }

  async counts() {
    return { alerts_waiting: this.waiting.size, alerts_dead: this.buried.size };
  }

  async dead(limit: number): Promise<OutboxEntry[]> {
    return [...this.buried.values()].slice(0, limit).map(({ entry }) => structuredClone(entry));
  }

  async retryDead(): Promise<number> {
    const time = this.now();
    const count = this.buried.size;
    for (const [key, { entry }] of this.buried) {
      this.waiting.set(key, { entry: { ...entry, attempts: 0, created_at: time }, dueAt: time });
    }
    this.buried.clear();
    return count;
  }

  async prune(retentionMs: number): Promise<number> {
    if (retentionMs <= 0) return 0;
    const before = this.now() - retentionMs;
    let dropped = 0;
    for (const [key, { at }] of this.buried) {
      if (at >= before) continue;
      this.buried.delete(key);
      dropped += 1;
    }
    return dropped;
  }
}
