import { randomUUID } from "node:crypto";
import type { CallBudget } from "../hss/call-budget";
import { type AlertOutbox, alertCounts, memoryOutbox } from "../notify/outbox";
import type { SubmittedImages } from "../submitted-images";
import {
  type Claim,
  type DeadLetter,
  type DueSet,
  type Durability,
  type EnqueueOptions,
  type EnqueueOutcome,
  type FailureRecord,
  type NewScan,
  type PruneCounts,
  type QueueCounts,
  type QueuedScan,
  QueueFullError,
  type QueueLimits,
  type ReleaseOptions,
  type RescanEntry,
  type ScanQueue,
  type Watch,
  type WatchStore,
} from "./scan-queue";

/** The follow-up's watches in memory (and `once` marks for one process, as `scan` uses them). */
export class MemoryWatchStore implements WatchStore {
  private readonly watches = new Map<string, { watch: Watch; dueAt: number }>();
  private readonly marks = new Map<string, number>();
  private readonly values = new Map<string, { value: string; until: number }>();

  constructor(private readonly now: () => number) {}

  async add(watches: Watch[], dueInMs: number): Promise<void> {
    for (const watch of watches) {
      this.watches.set(watch.id, { watch: { ...watch }, dueAt: this.now() + dueInMs });
    }
  }

  async claimDue(limit: number, leaseMs: number): Promise<Watch[]> {
    const now = this.now();
    const due = [...this.watches.values()]
      .filter((entry) => entry.dueAt <= now)
      .sort((a, b) => a.dueAt - b.dueAt)
      .slice(0, limit);
    for (const entry of due) entry.dueAt = now + leaseMs;
    return due.map((entry) => ({ ...entry.watch }));
  }

  async remove(ids: string[]): Promise<void> {
    for (const id of ids) this.watches.delete(id);
  }

  /** Drops watches due before `before` (no follow-up claimed them since); returns how many. */
  dropOverdue(before: number): number {
    let dropped = 0;
    for (const [id, entry] of this.watches) {
      if (entry.dueAt >= before) continue;
      this.watches.delete(id);
      dropped += 1;
    }
    return dropped;
  }

  async count(): Promise<number> {
    return this.watches.size;
  }

  async once(key: string, ttlMs: number): Promise<boolean> {
    const now = this.now();
    if ((this.marks.get(key) ?? 0) > now) return false;
    this.marks.set(key, now + ttlMs);
    for (const [mark, until] of this.marks) if (until <= now) this.marks.delete(mark);
    return true;
  }

  async keep(key: string, value: string | undefined, ttlMs: number): Promise<void> {
    if (value === undefined) this.values.delete(key);
    else this.values.set(key, { value, until: this.now() + ttlMs });
  }

  async tally(key: string, by: number, ttlMs: number): Promise<number> {
    const current = await this.kept(key);
    const total = Number(current ?? 0) + by;
    const until = current === undefined ? this.now() + ttlMs : this.values.get(key)?.until;
    this.values.set(key, { value: String(total), until: until ?? this.now() + ttlMs });
    return total;
  }

  async kept(key: string): Promise<string | undefined> {
    const entry = this.values.get(key);
    if (entry && entry.until > this.now()) return entry.value;
    this.values.delete(key);
    return undefined;
  }
}

/** A due set in this process's memory (the rescan set of an in-process queue). */
export class MemoryDueSet<T extends { id: string }> implements DueSet<T> {
  private readonly entries = new Map<string, { item: T; dueAt: number }>();

  constructor(private readonly now: () => number) {}

  async put(items: T[], dueInMs: number): Promise<void> {
    for (const item of items) {
      this.entries.set(item.id, { item: structuredClone(item), dueAt: this.now() + dueInMs });
    }
  }

  private due(limit: number, horizonMs = 0) {
    const now = this.now();
    return [...this.entries.values()]
      .filter((entry) => entry.dueAt <= now + horizonMs)
      .sort((a, b) => a.dueAt - b.dueAt)
      .slice(0, limit);
  }

  async claimDue(limit: number, leaseMs: number, horizonMs = 0): Promise<T[]> {
    const due = this.due(limit, horizonMs);
    for (const entry of due) entry.dueAt = this.now() + leaseMs;
    return due.map((entry) => structuredClone(entry.item));
  }

  async peekDue(limit: number): Promise<T[]> {
    return this.due(limit).map((entry) => structuredClone(entry.item));
  }

  async remove(ids: string[]): Promise<void> {
    for (const id of ids) this.entries.delete(id);
  }

  async missing(ids: string[]): Promise<string[]> {
    return ids.filter((id) => !this.entries.has(id));
  }

  async count(): Promise<number> {
    return this.entries.size;
  }

  async nextDueAt(): Promise<number | undefined> {
    let next: number | undefined;
    for (const { dueAt } of this.entries.values())
      if (next === undefined || dueAt < next) next = dueAt;
    return next;
  }
}

/**
 * The scan queue in this process's memory: the same semantics as the Redis queue, for `npm start`,
 * `invoke` and tests. Not durable: what is queued is lost with the process, and it is not shared
 * with other instances. Each method runs to completion without awaiting, so each is atomic here.
 */
export class MemoryScanQueue implements ScanQueue {
  readonly backend = "memory";
  readonly probesDurability = false;
  readonly budget: CallBudget;
  readonly watches: WatchStore;
  readonly outbox: AlertOutbox;
  readonly rescans: DueSet<RescanEntry>;
  private readonly scans = new Map<string, QueuedScan>();
  /** Pending image id → epoch ms from which it may be claimed. */
  private readonly pending = new Map<string, number>();
  private readonly claims = new Map<string, { token: string; expiresAt: number }>();
  private readonly dead = new Map<string, DeadLetter>();

  /** The instance's memory of pushes HSS accepted (the dedupe window). */
  private readonly remembered: SubmittedImages;

  private readonly limits: QueueLimits;
  private readonly watchStore: MemoryWatchStore;

  /** In one process the queue's budget and memory are the instance's own. */
  constructor(
    instance: { budget: CallBudget; submitted: SubmittedImages; limits?: QueueLimits },
    private readonly now: () => number = Date.now,
  ) {
    this.budget = instance.budget;
    this.remembered = instance.submitted;
    this.limits = instance.limits ?? {};
    this.watchStore = new MemoryWatchStore(now);
    this.watches = this.watchStore;
    this.outbox = memoryOutbox(now);
    this.rescans = new MemoryDueSet<RescanEntry>(now);
  }

  async enqueue(
    scans: NewScan[],
    dedupeWindowMs: number,
    options: EnqueueOptions = {},
  ): Promise<EnqueueOutcome[]> {
    const now = this.now();
    const fresh = new Set<string>();
    const outcomes = scans.map((scan): EnqueueOutcome => {
      if (this.scans.has(scan.id) || fresh.has(scan.id)) return { status: "already_queued" };
      if (this.dead.has(scan.id)) return { status: "dead_lettered" };
      const submittedAt = options.force
        ? undefined
        : this.remembered.acceptedAt(scan.id, dedupeWindowMs);
      if (submittedAt !== undefined) return { status: "submitted_recently", submittedAt };
      fresh.add(scan.id);
      return { status: "queued" };
    });
    const max = this.limits.maxQueued;
    if (
      max !== undefined &&
      !options.force &&
      fresh.size > 0 &&
      this.scans.size + fresh.size > max
    ) {
      throw new QueueFullError(this.scans.size, fresh.size, max);
    }
    for (const scan of scans) {
      if (!fresh.delete(scan.id)) continue;
      this.scans.set(scan.id, { ...scan, queued_at: now, attempts: 0 });
      this.pending.set(scan.id, now);
    }
    return outcomes;
  }

  async claim(max: number, leaseMs: number): Promise<Claim | undefined> {
    const now = this.now();
    this.reclaimExpired(now);
    const eligible = [...this.pending]
      .filter(([, from]) => from <= now)
      .sort((a, b) => a[1] - b[1])
      .map(([id]) => this.scans.get(id) as QueuedScan);
    const first = eligible[0];
    if (!first) return undefined;
    const chosen = eligible
      .filter((scan) => scan.group === first.group && scan.image_type === first.image_type)
      .slice(0, max);
    const token = randomUUID();
    for (const scan of chosen) {
      this.pending.delete(scan.id);
      this.claims.set(scan.id, { token, expiresAt: now + leaseMs });
    }
    return { token, scans: chosen.map((scan) => ({ ...scan })) };
  }

  async accepted(claim: Claim, dedupeWindowMs: number): Promise<void> {
    for (const { id } of claim.scans) {
      const holder = this.claims.get(id)?.token;
      if (holder === claim.token || (holder === undefined && this.pending.has(id))) {
        this.remove(id);
      }
    }
    this.remembered.confirm(
      claim.scans.map((scan) => scan.id),
      dedupeWindowMs,
    );
  }

  async release(claim: Claim, options: ReleaseOptions): Promise<QueuedScan[]> {
    const now = this.now();
    const held = this.held(claim);
    const half = Math.ceil(held.length / 2);
    const exhausted: QueuedScan[] = [];
    held.forEach((scan, index) => {
      this.claims.delete(scan.id);
      if (options.countAttempt) scan.attempts += 1;
      if (options.error) scan.last_error = options.error;
      if (options.split) scan.group = `${claim.token}:${index < half ? "a" : "b"}`;
      if (options.countAttempt && scan.attempts >= options.maxAttempts) {
        this.moveToDead(scan, scan.last_error, now);
        exhausted.push({ ...scan });
      } else {
        this.pending.set(scan.id, now + options.delayMs);
      }
    });
    return exhausted;
  }

  async deadLetter(claim: Claim, error: FailureRecord): Promise<void> {
    const now = this.now();
    for (const scan of this.held(claim)) {
      scan.last_error = error;
      this.moveToDead(scan, error, now);
    }
  }

  async bury(letters: Array<{ scan: NewScan; error: FailureRecord }>): Promise<void> {
    const now = this.now();
    for (const { scan, error } of letters) {
      this.remove(scan.id);
      this.dead.set(scan.id, {
        scan: { ...scan, queued_at: now, attempts: 0, last_error: error },
        error,
        dead_at: now,
      });
    }
  }

  async counts(): Promise<QueueCounts> {
    const now = this.now();
    this.reclaimExpired(now);
    let oldest: number | undefined;
    for (const scan of this.scans.values()) {
      if (oldest === undefined || scan.queued_at < oldest) oldest = scan.queued_at;
    }
    return {
      pending: this.pending.size,
      ...(this.limits.maxQueued !== undefined ? { max_queued: this.limits.maxQueued } : {}),
      watched: await this.watches.count(),
      claimed: this.claims.size,
      dead_lettered: this.dead.size,
      oldest_age_ms: oldest === undefined ? undefined : now - oldest,
      ...(await alertCounts(this.outbox)),
    };
  }

  async deadLetters(limit: number): Promise<DeadLetter[]> {
    return [...this.dead.values()].slice(0, limit);
  }

  async retryDead(): Promise<number> {
    const now = this.now();
    const count = this.dead.size;
    for (const [id, letter] of this.dead) {
      const { group: _group, ...scan } = letter.scan;
      this.scans.set(id, { ...scan, attempts: 0 });
      this.pending.set(id, now);
    }
    this.dead.clear();
    return count;
  }

  async waiting(limit: number): Promise<QueuedScan[]> {
    return [...this.scans.values()]
      .sort((a, b) => a.queued_at - b.queued_at)
      .slice(0, limit)
      .map((scan) => ({ ...scan }));
  }

  async prune(): Promise<PruneCounts> {
    const now = this.now();
    let deadLetters = 0;
    const retention = this.limits.deadLetterRetentionMs;
    if (retention !== undefined) {
      for (const [id, letter] of this.dead) {
        if (letter.dead_at >= now - retention) continue;
        this.dead.delete(id);
        deadLetters += 1;
      }
    }
    const watches =
      this.limits.watchRetentionMs === undefined
        ? 0
        : this.watchStore.dropOverdue(now - this.limits.watchRetentionMs);
    const deadAlerts = await this.outbox.prune(retention ?? 0);
    return { dead_letters: deadLetters, dead_alerts: deadAlerts, watches };
  }

  /** In this process's memory: nothing survives it. */
  async durability(): Promise<Durability> {
    return {
      persistent: false,
      detail: "in this process's memory: what is queued is lost when the process ends",
    };
  }

  async close(): Promise<void> {}

  private held(claim: Claim): QueuedScan[] {
    return claim.scans
      .filter(({ id }) => this.claims.get(id)?.token === claim.token)
      .map(({ id }) => this.scans.get(id) as QueuedScan);
  }

  private moveToDead(scan: QueuedScan, error: FailureRecord | undefined, now: number): void {
    this.remove(scan.id);
    this.dead.set(scan.id, { scan: { ...scan }, error, dead_at: now });
  }

  private remove(id: string): void {
    this.scans.delete(id);
    this.pending.delete(id);
    this.claims.delete(id);
  }

  private reclaimExpired(now: number): void {
    for (const [id, claim] of this.claims) {
      if (claim.expiresAt > now) continue;
      this.claims.delete(id);
      this.pending.set(id, now);
    }
  }
}
