import { ScanOnPushError } from "../errors";
import type { CallBudget } from "../hss/call-budget";
import type { ImageType, ScanTarget } from "../images/scan-target";
import type { AlertOutbox } from "../notify/outbox";

/**
 * The scan queue between intake and HSS. Intake puts each pushed image on it; the flusher takes
 * images off in batches under a lease, sends them, and settles the claim with what HSS answered.
 * An image is identified by what HSS scans plus the pushed digest (`scanKey`): the same push
 * queued twice is one entry, and a push already accepted by HSS within the dedupe window is not
 * queued again. Every operation is atomic in each backend (one Lua script in Redis, one
 * synchronous step in memory), so no two instances can claim the same image at once.
 *
 * Lifecycle: queued (pending) → claimed under a lease → accepted (removed, remembered for the
 * dedupe window) | released (pending again, possibly after a delay, possibly split into smaller
 * groups) | dead-lettered (kept with HSS's error until an operator retries it). A claim whose
 * lease expires is pending again for any instance.
 */

export interface NewScan {
  /** `scanKey(image_type, target, digest)`. */
  id: string;
  image_type: ImageType;
  target: ScanTarget;
  digest?: string;
  /** Scans requested again by the follow-up after a failure a re-scan can fix. */
  rescans?: number;
  /** Scans requested again by the follow-up because HSS lists the image now, after a sync. */
  resyncs?: number;
  /** HSS was seen to list the image (by a lookup before the scan, or by the follow-up). */
  listed?: boolean;
  /** A rescan of an image pushed before (RESCAN_*): its result is compared, not alerted whole. */
  rescan?: boolean;
  /**
   * HSS's own record of the image's instance_url, where it differed from what was sent: the
   * follow-up sent the image again with it (once), and it is sent with this value.
   */
  hss_instance_url?: string;
}

/** What HSS (or the network) said when a call failed, as kept on an image. */
export interface FailureRecord {
  http_status?: number;
  error_code: string;
  error_msg: string;
  hss_request_id?: string;
}

export interface QueuedScan extends NewScan {
  /** Epoch ms when it was queued. */
  queued_at: number;
  /** Failed calls that carried it, throttled calls excepted. */
  attempts: number;
  /**
   * Set once a batch it was in was rejected by HSS: images of one group are sent only together,
   * so that a rejected batch is split in halves until the rejected image is alone.
   */
  group?: string;
  last_error?: FailureRecord;
}

export type EnqueueOutcome =
  | { status: "queued" }
  | { status: "already_queued" }
  | { status: "submitted_recently"; submittedAt: number }
  | { status: "dead_lettered" };

export interface Claim {
  /** Proves the claim: settling a claim that another instance has since taken over does nothing. */
  token: string;
  scans: QueuedScan[];
}

export interface DeadLetter {
  scan: QueuedScan;
  error?: FailureRecord;
  dead_at: number;
}

export interface QueueCounts {
  /** Waiting to be sent (including those waiting out a retry delay). */
  pending: number;
  /** MAX_QUEUED_IMAGES: pending and claimed images together are never more. */
  max_queued?: number;
  /** Submitted images whose scan result the follow-up is still waiting for. */
  watched?: number;
  /** Claimed by a flusher right now. */
  claimed: number;
  dead_lettered: number;
  /** Age of the oldest image not yet accepted by HSS, pending or claimed. */
  oldest_age_ms?: number;
  /** Alerts waiting to be posted (including those waiting out a retry). */
  alerts_waiting?: number;
  /** Alerts given up on (`queue retry-dead` sends them again). */
  alerts_dead?: number;
}

export interface ReleaseOptions {
  /** Not claimable before this many ms from now. */
  delayMs: number;
  /** Count this as a failed attempt (throttled calls are not the images' fault). */
  countAttempt: boolean;
  /** After this many failed attempts an image is dead-lettered instead. */
  maxAttempts: number;
  error?: FailureRecord;
  /** Split the claim in two groups that are retried separately (a rejected batch). */
  split?: boolean;
}

/**
 * A submitted image the follow-up is waiting on: `scanning` after HSS accepted a scan request
 * for it at `requested_at`; `syncing` while HSS does not list it and a sync was asked for.
 */
export interface Watch extends NewScan {
  state: "scanning" | "syncing";
  /** When HSS accepted the latest scan request for it (epoch ms). */
  requested_at: number;
  /** When it entered its state. */
  since: number;
  /** When it was first watched. */
  watched_at: number;
  /**
   * How far the follow-up's list of finished scans was read for it: scans that ended before
   * `time` (HSS's clock), and the first `skip` of those that ended at `time`.
   */
  finished_from?: { time: number; skip: number };
  /** When it was last looked up by its exact name. */
  looked_at?: number;
  /** When a follow-up check last read HSS's lists for it (registries least recently checked go first). */
  checked_at?: number;
  /**
   * No scan was asked for it: HSS did not list it when it was flushed (scan-task), so no scan of
   * its own can end until it is synced and sent again.
   */
  unrequested?: boolean;
  /** The instance_url the scan request carried, where it was not the target's own (a form). */
  sent_url?: string;
  /**
   * Its scan's result, read already, waiting only for its vulnerabilities to be read (a rescan's
   * new findings, when that API's budget had no slot): judged again without a lookup.
   */
  held?: Record<string, unknown>;
}

/**
 * The follow-up's list of submitted images, kept beside the queue (same backend). Checks are
 * claimed under a lease like queue entries, so two flushers never follow the same image at once,
 * and an instance that dies mid-check leaves the image due again after the lease.
 */
export interface WatchStore {
  /** Adds or replaces (a watch after its check); each is next due `dueInMs` from now. */
  add(watches: Watch[], dueInMs: number): Promise<void>;
  /** Up to `limit` due watches, each made not due for `leaseMs` (the lease of this check). */
  claimDue(limit: number, leaseMs: number): Promise<Watch[]>;
  remove(ids: string[]): Promise<void>;
  count(): Promise<number>;
  /** True for the first caller per `key` in `ttlMs` (a sync at most once per window). */
  once(key: string, ttlMs: number): Promise<boolean>;
  /** A small value kept for `ttlMs` beside the watches (where a listing got to); undefined removes it. */
  keep(key: string, value: string | undefined, ttlMs: number): Promise<void>;
  kept(key: string): Promise<string | undefined>;
  /** Adds `by` to a counter kept `ttlMs` from its first count; returns the new total. */
  tally(key: string, by: number, ttlMs: number): Promise<number>;
}

/**
 * An image the function keeps re-evaluating (RESCAN_EVERY_DAYS): what to scan, when a push of it
 * was last accepted (it leaves the set RESCAN_WITHIN_DAYS after), when it was last rescanned.
 */
export interface RescanEntry {
  /** `rescanKeyOf(image_type, target)`: one entry per tag. */
  id: string;
  image_type: ImageType;
  target: ScanTarget;
  digest?: string;
  pushed_at: number;
  rescanned_at?: number;
}

/** The set of images re-evaluated on a cadence, each due at its own time (same backend). */
export interface DueSet<T extends { id: string }> {
  /** Adds or replaces; each is next due `dueInMs` from now. */
  put(items: T[], dueInMs: number): Promise<void>;
  /**
   * Up to `limit` due entries (due before now + `horizonMs`: 0 unless a pass is forced), each
   * made not due for `leaseMs`.
   */
  claimDue(limit: number, leaseMs: number, horizonMs?: number): Promise<T[]>;
  /** Up to `limit` due entries, left as they are (a dry run). */
  peekDue(limit: number): Promise<T[]>;
  remove(ids: string[]): Promise<void>;
  /** Which of these ids the set does not hold. */
  missing(ids: string[]): Promise<string[]>;
  count(): Promise<number>;
  /** When the next entry is due (epoch ms); undefined when the set is empty. */
  nextDueAt(): Promise<number | undefined>;
}

/** A submitted image as the follow-up watches it, from now on, in `state`. */
export function watchOf(scan: NewScan | QueuedScan, state: Watch["state"], now: number): Watch {
  const {
    queued_at: _queued,
    attempts: _attempts,
    group: _group,
    last_error: _error,
    // A watch's own: a new one starts without them.
    finished_from: _finished,
    looked_at: _looked,
    checked_at: _checked,
    unrequested: _unrequested,
    sent_url: _sent,
    held: _held,
    ...rest
  } = scan as QueuedScan & Partial<Watch>;
  return { ...rest, state, requested_at: now, since: now, watched_at: now };
}

/**
 * When a watch is next due after a check: checks happen on flush ticks, and a watch due a moment
 * after a tick would wait a whole flush period more, so it is due a little (at most 1 s) before
 * the interval (FOLLOW_UP_INTERVAL_SECONDS) ends.
 */
export function nextCheckInMs(intervalMs: number): number {
  return intervalMs - Math.min(1000, intervalMs / 5);
}

export interface EnqueueOptions {
  /**
   * Queue even when accepted within the dedupe window (a re-scan the follow-up asks for), and
   * whatever the bound: these images were accepted already and must not be lost.
   */
  force?: boolean;
}

/**
 * How far the clocks of the function and of Redis may disagree. An enqueue Redis runs later than
 * QUEUE_TIMEOUT_MS and this after it was sent (by Redis's clock) does nothing: the client gave up
 * on it by then, and may have told the sender to deliver again.
 */
export const QUEUE_CLOCK_ALLOWANCE_MS = 2000;

/** What a queue holds at most, and for how long (from the configuration). */
export interface QueueLimits {
  /** MAX_QUEUED_IMAGES: images not yet accepted by HSS (pending or claimed) held at most. */
  maxQueued?: number;
  /** DEAD_LETTER_RETENTION_DAYS, in ms: older dead letters are dropped. */
  deadLetterRetentionMs?: number;
  /** A watch overdue this long (the follow-up is not running) is dropped. */
  watchRetentionMs?: number;
}

/** Whether what the queue holds survives a restart of its server. */
export interface Durability {
  persistent: boolean;
  /** Redis: the append-only file is on. */
  aof?: boolean;
  /** Redis: RDB snapshot rules (`save`), "" when off, undefined when Redis would not say. */
  rdb_save?: string;
  /** In plain words: what is kept and what a restart loses. */
  detail: string;
}

/**
 * The queue's roles, each what one kind of caller uses; a backend implements them all
 * (`ScanQueue`), and test/support/queue-contracts.ts holds one contract suite per role, run on
 * every registered backend.
 */

/** Intake's role: pushed images onto the queue, once each. */
export interface ScanIntake {
  enqueue(
    scans: NewScan[],
    dedupeWindowMs: number,
    options?: EnqueueOptions,
  ): Promise<EnqueueOutcome[]>;
}

/** The flusher's and the follow-up's role: claims under a lease, and how each is settled. */
export interface ScanClaims {
  /** Up to `max` images of one image type (or one group), oldest first; undefined when none. */
  claim(max: number, leaseMs: number): Promise<Claim | undefined>;
  /** HSS accepted the claim: remove its images and remember them for the dedupe window. */
  accepted(claim: Claim, dedupeWindowMs: number): Promise<void>;
  /** Back to pending; returns the images dead-lettered because their attempts ran out. */
  release(claim: Claim, options: ReleaseOptions): Promise<QueuedScan[]>;
  deadLetter(claim: Claim, error: FailureRecord): Promise<void>;
  /** Straight to the dead letters, each with its error (the follow-up gave up on them). */
  bury(letters: Array<{ scan: NewScan; error: FailureRecord }>): Promise<void>;
}

/** What a prune dropped: dead letters and dead alerts past DEAD_LETTER_RETENTION_DAYS, watches overdue. */
export interface PruneCounts {
  dead_letters: number;
  dead_alerts: number;
  watches: number;
}

/** The operator's role (`queue status`, `retry-dead`, `prune`, the dry run's setup). */
export interface QueueAdmin {
  counts(): Promise<QueueCounts>;
  deadLetters(limit: number): Promise<DeadLetter[]>;
  /** Moves every dead-lettered image back to pending; returns how many. */
  retryDead(): Promise<number>;
  /** The oldest images not yet accepted by HSS (pending or claimed), up to `limit`. */
  waiting(limit: number): Promise<QueuedScan[]>;
  /** Drops dead letters and watches past their retention (QueueLimits); returns how many. */
  prune(): Promise<PruneCounts>;
  /** Whether what is queued survives a restart (Redis: its persistence settings). */
  durability(): Promise<Durability>;
  close(): Promise<void>;
}

/** What is kept beside the queue, in the same backend, each a role of its own. */
export interface QueueStores {
  /** The HSS call budget shared by everyone using this queue. */
  readonly budget: CallBudget;
  /** Submitted images whose scans the follow-up watches (and small marks and values). */
  readonly watches: WatchStore;
  /** Alerts waiting to be posted to chat channels (docs/notifications.md). */
  readonly outbox: AlertOutbox;
  /** Images re-evaluated on a cadence (RESCAN_*, src/rescan/). */
  readonly rescans: DueSet<RescanEntry>;
}

/** A queue backend: every role, and what the registry (src/queue/backends.ts) knows it by. */
export interface ScanQueue extends ScanIntake, ScanClaims, QueueAdmin, QueueStores {
  /** Its name in the backends' registry. */
  readonly backend: string;
  /** Whether a restart of its server may lose what it holds (read once per warm instance). */
  readonly probesDurability: boolean;
}

/**
 * A queue that could not be reached or answered in time; the message is safe to show.
 * `outcome` says whether the command may still take effect: `not_applied` when it was never sent
 * (no connection) or was refused, `unknown` when it was sent and no answer came in time (Redis may
 * run it later: a timed-out command is not one that did not happen).
 */
export class QueueUnavailableError extends ScanOnPushError {
  override readonly name = "QueueUnavailableError";
  readonly outcome: "not_applied" | "unknown";
  constructor(
    message: string,
    outcome: "not_applied" | "unknown" = "not_applied",
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.outcome = outcome;
  }
}

/**
 * The queue holds MAX_QUEUED_IMAGES images already: nothing of the request was queued. `queued` is
 * how many images it holds, `adding` how many new ones the request had.
 */
export class QueueFullError extends ScanOnPushError {
  override readonly name = "QueueFullError";
  constructor(
    readonly queued: number,
    readonly adding: number,
    readonly max: number,
  ) {
    super(
      `the scan queue holds ${queued} images and this delivery would add ${adding}; the limit is MAX_QUEUED_IMAGES=${max}`,
    );
  }
}
