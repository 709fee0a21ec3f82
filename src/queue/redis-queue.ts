import { randomUUID } from "node:crypto";
import Redis from "ioredis";
import type { BudgetState, CallBudget, HssApi } from "../hss/call-budget";
import { type AlertOutbox, alertCounts } from "../notify/outbox";
import { OUTBOX_SCRIPTS, redisOutbox } from "./redis-outbox";
import {
  ACCEPTED,
  BUDGET,
  BURY,
  CLAIM,
  COUNTS,
  DEAD_LETTER,
  ENQUEUE,
  PRUNE,
  RELEASE,
  RETRY_DEAD,
  SPEND_WINDOW,
  WATCH_CLAIM,
  WATCH_PUT,
  WATCH_REMOVE,
} from "./redis-scripts";
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
  QUEUE_CLOCK_ALLOWANCE_MS,
  type QueueCounts,
  type QueuedScan,
  type QueueLimits,
  type ReleaseOptions,
  type RescanEntry,
  type ScanQueue,
  type Watch,
  type WatchStore,
} from "./scan-queue";

/**
 * The scan queue and the HSS call budget in Redis 6+ (on Huawei Cloud: DCS for Redis in the
 * function's VPC): durable and shared by every instance, which is what lets the function scale
 * past one instance without going over HSS's limit. This module, and ioredis with it, is loaded
 * only when SCAN_QUEUE is a redis:// or rediss:// URL.
 *
 * Every key shares the hash tag `{swr-scan-on-push}`, so that the scripts, which touch several
 * keys, also run on a Redis cluster.
 *
 * In the deployed package this module is its own file (redis-queue.js beside index.js), so that
 * direct mode never even parses it; errors therefore reach the caller through the error factory
 * it is given, and `instanceof` checks see the caller's own class.
 */

/** Every key of the queue and its stores starts with this (one hash slot: `{…}`). */
export const PREFIX = "{swr-scan-on-push}:";
const QUEUE_KEYS = [
  "scans",
  "queued",
  "pending",
  "claimed",
  "claims",
  "submitted",
  "dead",
  "dead-at",
].map((name) => `${PREFIX}${name}`);
const budgetKeys = (api: HssApi) => [`${PREFIX}calls:${api}`, `${PREFIX}blocked:${api}`];
const WATCH_KEYS = [`${PREFIX}watch`, `${PREFIX}watch-due`];
/** The rescan set: the same two-key shape as the watches (hash of bodies, zset of due times). */
const RESCAN_KEYS = [`${PREFIX}rescan`, `${PREFIX}rescan-due`];

/** How many pending entries one claim looks at beyond the batch it takes. */
const CLAIM_SCAN_EXTRA = 1000;

export interface RedisQueueOptions {
  url: string;
  callsPerMinute: number;
  /** How long a call counts against the shared budget (HSS_RATE_WINDOW_SECONDS). */
  windowMs: number;
  /** Bound on connecting and on each command; past it the queue counts as unavailable. */
  timeoutMs: number;
  /**
   * Builds the error for a queue that did not answer (the caller's QueueUnavailableError):
   * `not_applied` when the command never reached Redis or Redis refused it, `unknown` when it was
   * sent and no answer came (Redis may still run it).
   */
  unavailable: (message: string, outcome: "not_applied" | "unknown", cause?: unknown) => Error;
  /** Builds the error for a queue at its bound (the caller's QueueFullError). */
  full?: (queued: number, adding: number, max: number) => Error;
  limits?: QueueLimits;
  /** PEM certificates to trust for rediss:// (SCAN_QUEUE_CA), besides Node's own. */
  ca?: string;
}

type Script = (...args: Array<string | number>) => Promise<unknown>;
const SCRIPTS = {
  scanQueueEnqueue: [ENQUEUE, QUEUE_KEYS.length],
  scanQueueClaim: [CLAIM, QUEUE_KEYS.length],
  scanQueueAccepted: [ACCEPTED, QUEUE_KEYS.length],
  scanQueueRelease: [RELEASE, QUEUE_KEYS.length],
  scanQueueDeadLetter: [DEAD_LETTER, QUEUE_KEYS.length],
  scanQueueRetryDead: [RETRY_DEAD, QUEUE_KEYS.length],
  scanQueueCounts: [COUNTS, QUEUE_KEYS.length],
  scanQueueBudget: [BUDGET, 2],
  scanQueueSpendWindow: [SPEND_WINDOW, 2],
  scanQueueBury: [BURY, QUEUE_KEYS.length],
  scanQueueWatchPut: [WATCH_PUT, 2],
  scanQueueWatchClaim: [WATCH_CLAIM, 2],
  scanQueueWatchRemove: [WATCH_REMOVE, 2],
  scanQueuePrune: [PRUNE, QUEUE_KEYS.length + 2],
} as const;
type ScriptName = keyof typeof SCRIPTS;

export class RedisScanQueue implements ScanQueue {
  readonly backend = "redis";
  readonly probesDurability = true;
  readonly budget: CallBudget;
  readonly watches: WatchStore;
  readonly outbox: AlertOutbox;
  readonly rescans: DueSet<RescanEntry>;
  private readonly client: Redis;
  /** The connection's last error: named in the next failure's message, kept as its cause. */
  private lastError: Error | undefined;

  constructor(private readonly options: RedisQueueOptions) {
    this.client = new Redis(options.url, {
      lazyConnect: true,
      // Commands fail at once while disconnected instead of waiting in a queue: intake must be
      // able to fall back to a direct submission within the sender's timeout.
      enableOfflineQueue: false,
      connectTimeout: options.timeoutMs,
      commandTimeout: options.timeoutMs,
      maxRetriesPerRequest: 1,
      retryStrategy: (times) => Math.min(times * 200, 2000),
      // Never print the URL (it may hold a password) through ioredis's own diagnostics.
      showFriendlyErrorStack: false,
      // No CLIENT SETINFO before the connection is ready: the client would first read its own
      // package.json from disk (absent from the deployed files) and wait for two more answers, at
      // every cold start; Redis before 7.2, as DCS offers it, refuses the command anyway.
      disableClientInfo: true,
      ...(options.ca && options.url.startsWith("rediss:") ? { tls: { ca: options.ca } } : {}),
    });
    // Without a listener an 'error' event would end the process; the reason is kept for the
    // next command's error instead.
    this.client.on("error", (error: Error) => {
      this.lastError = error;
    });
    for (const [name, [lua, numberOfKeys]] of Object.entries(SCRIPTS)) {
      this.client.defineCommand(name, { lua, numberOfKeys });
    }
    // The outbox's scripts take their number of keys first (a channel's keys vary).
    for (const [name, lua] of Object.entries(OUTBOX_SCRIPTS))
      this.client.defineCommand(name, { lua });
    this.outbox = redisOutbox(
      {
        run: async (name, args) => {
          await this.ready();
          const script = (this.client as unknown as Record<string, Script>)[name] as Script;
          return this.guard(script.apply(this.client, args));
        },
        hlen: async (key) => {
          await this.ready();
          return this.guard(this.client.hlen(key));
        },
        hvals: async (key) => {
          await this.ready();
          return this.guard(this.client.hvals(key));
        },
        hmget: async (key, fields) => {
          await this.ready();
          return this.guard(this.client.hmget(key, ...fields));
        },
        set: async (key, value, ttlMs) => {
          await this.ready();
          await this.guard(this.client.set(key, value, "PX", ttlMs));
        },
        pttl: async (key) => {
          await this.ready();
          return this.guard(this.client.pttl(key));
        },
      },
      PREFIX,
    );
    const budget: CallBudget = {
      scope: "shared",
      windowMs: options.windowMs,
      check: async (api) => {
        const [remaining = 0, used = 0, retryAfterMs = 0] = await this.budgetCall(api, "check");
        return { remaining, used, retryAfterMs } satisfies BudgetState;
      },
      take: async (api) => {
        const [granted, , retryAfterMs = 0] = await this.budgetCall(api, "take");
        return { granted: granted === 1, retryAfterMs };
      },
      spendWindow: async (api) => {
        await this.run("scanQueueSpendWindow", [...budgetKeys(api), options.windowMs]);
      },
    };
    this.budget = budget;
    const put = async (watches: Watch[], inMs: number) => {
      if (watches.length === 0) return;
      await this.run("scanQueueWatchPut", [
        ...WATCH_KEYS,
        Math.max(0, Math.round(inMs)),
        ...watches.flatMap((watch) => [watch.id, JSON.stringify(watch)]),
      ]);
    };
    this.watches = {
      add: put,
      claimDue: async (limit, leaseMs) => {
        const bodies = (await this.run("scanQueueWatchClaim", [
          ...WATCH_KEYS,
          limit,
          Math.round(leaseMs),
        ])) as string[];
        return bodies.map((body) => fromLua<Watch>(body));
      },
      remove: async (ids) => {
        if (ids.length > 0) await this.run("scanQueueWatchRemove", [...WATCH_KEYS, ...ids]);
      },
      count: async () => {
        await this.ready();
        return this.guard(this.client.hlen(WATCH_KEYS[0] as string));
      },
      once: async (key, ttlMs) => {
        await this.ready();
        const set = await this.guard(
          this.client.set(`${PREFIX}once:${key}`, "1", "PX", Math.max(1, Math.round(ttlMs)), "NX"),
        );
        return set === "OK";
      },
      keep: async (key, value, ttlMs) => {
        await this.ready();
        const name = `${PREFIX}kept:${key}`;
        if (value === undefined) await this.guard(this.client.del(name));
        else await this.guard(this.client.set(name, value, "PX", Math.max(1, Math.round(ttlMs))));
      },
      kept: async (key) => {
        await this.ready();
        return (await this.guard(this.client.get(`${PREFIX}kept:${key}`))) ?? undefined;
      },
      tally: async (key, by, ttlMs) => {
        await this.ready();
        const name = `${PREFIX}kept:${key}`;
        const [[, total] = []] =
          (await this.guard(
            this.client
              .multi()
              .incrby(name, by)
              .pexpire(name, Math.max(1, Math.round(ttlMs)), "NX")
              .exec(),
          )) ?? [];
        return Number(total ?? 0);
      },
    };
    this.rescans = this.dueSet<RescanEntry>(RESCAN_KEYS);
  }

  /** A due set on two keys (hash of bodies, zset of due times), with the watches' scripts. */
  private dueSet<T extends { id: string }>(keys: string[]): DueSet<T> {
    const [hash, due] = keys as [string, string];
    const bodies = async (ids: string[]) => {
      if (ids.length === 0) return [];
      const found = await this.guard(this.client.hmget(hash, ...ids));
      return found.flatMap((body) => (body ? [fromLua<T>(body)] : []));
    };
    return {
      put: async (items, dueInMs) => {
        if (items.length === 0) return;
        await this.run("scanQueueWatchPut", [
          ...keys,
          Math.max(0, Math.round(dueInMs)),
          ...items.flatMap((item) => [item.id, JSON.stringify(item)]),
        ]);
      },
      claimDue: async (limit, leaseMs, horizonMs = 0) => {
        const claimed = (await this.run("scanQueueWatchClaim", [
          ...keys,
          limit,
          Math.round(leaseMs),
          Math.round(horizonMs),
        ])) as string[];
        return claimed.map((body) => fromLua<T>(body));
      },
      peekDue: async (limit) => {
        await this.ready();
        const now = Date.now();
        return bodies(
          await this.guard(this.client.zrangebyscore(due, "-inf", now, "LIMIT", 0, limit)),
        );
      },
      remove: async (ids) => {
        if (ids.length > 0) await this.run("scanQueueWatchRemove", [...keys, ...ids]);
      },
      missing: async (ids) => {
        if (ids.length === 0) return [];
        await this.ready();
        const found = await this.guard(this.client.hmget(hash, ...ids));
        return ids.filter((_, index) => found[index] === null);
      },
      count: async () => {
        await this.ready();
        return this.guard(this.client.hlen(hash));
      },
      nextDueAt: async () => {
        await this.ready();
        const [, score] = await this.guard(this.client.zrange(due, 0, 0, "WITHSCORES"));
        return score === undefined ? undefined : Number(score);
      },
    };
  }

  async enqueue(
    scans: NewScan[],
    dedupeWindowMs: number,
    options: EnqueueOptions = {},
  ): Promise<EnqueueOutcome[]> {
    if (scans.length === 0) return [];
    const args = scans.flatMap((scan) => [scan.id, JSON.stringify(scan)]);
    const max = options.force ? 0 : (this.options.limits?.maxQueued ?? 0);
    const notAfter = Date.now() + this.options.timeoutMs + QUEUE_CLOCK_ALLOWANCE_MS;
    const answers = (await this.run("scanQueueEnqueue", [
      ...QUEUE_KEYS,
      dedupeWindowMs,
      options.force ? 1 : 0,
      notAfter,
      max,
      ...args,
    ])) as string[];
    const [first = ""] = answers;
    if (first === "expired") {
      throw this.unavailable("Redis ran the request after its deadline and queued nothing", {
        applied: false,
      });
    }
    if (first.startsWith("full:")) {
      const [, queued = "0", adding = "0"] = first.split(":");
      const full = this.options.full ?? ((q, a, m) => new Error(`queue full: ${q} + ${a} > ${m}`));
      throw full(Number(queued), Number(adding), max);
    }
    return answers.map((answer): EnqueueOutcome => {
      if (answer === "queued" || answer === "already_queued" || answer === "dead_lettered") {
        return { status: answer };
      }
      return { status: "submitted_recently", submittedAt: Number(answer.split(":")[1]) };
    });
  }

  async claim(max: number, leaseMs: number): Promise<Claim | undefined> {
    const token = randomUUID();
    const bodies = (await this.run("scanQueueClaim", [
      ...QUEUE_KEYS,
      max,
      leaseMs,
      token,
      max + CLAIM_SCAN_EXTRA,
    ])) as string[];
    if (bodies.length === 0) return undefined;
    return { token, scans: bodies.map((body) => fromLua<QueuedScan>(body)) };
  }

  async accepted(claim: Claim, dedupeWindowMs: number): Promise<void> {
    await this.run("scanQueueAccepted", [
      ...QUEUE_KEYS,
      claim.token,
      dedupeWindowMs,
      ...claim.scans.map((scan) => scan.id),
    ]);
  }

  async release(claim: Claim, options: ReleaseOptions): Promise<QueuedScan[]> {
    const dead = (await this.run("scanQueueRelease", [
      ...QUEUE_KEYS,
      claim.token,
      Math.max(0, Math.round(options.delayMs)),
      options.countAttempt ? 1 : 0,
      options.maxAttempts,
      options.error ? JSON.stringify(options.error) : "",
      options.split ? 1 : 0,
      ...claim.scans.map((scan) => scan.id),
    ])) as string[];
    const deadIds = new Set(dead);
    return claim.scans.filter((scan) => deadIds.has(scan.id));
  }

  async deadLetter(claim: Claim, error: FailureRecord): Promise<void> {
    await this.run("scanQueueDeadLetter", [
      ...QUEUE_KEYS,
      claim.token,
      JSON.stringify(error),
      ...claim.scans.map((scan) => scan.id),
    ]);
  }

  async bury(letters: Array<{ scan: NewScan; error: FailureRecord }>): Promise<void> {
    if (letters.length === 0) return;
    await this.run("scanQueueBury", [
      ...QUEUE_KEYS,
      ...letters.flatMap(({ scan, error }) => [
        scan.id,
        JSON.stringify(scan),
        JSON.stringify(error),
      ]),
    ]);
  }

  async counts(): Promise<QueueCounts> {
    const [pending, claimed, dead, oldest, now] = (await this.run(
      "scanQueueCounts",
      QUEUE_KEYS,
    )) as number[];
    return {
      pending: pending ?? 0,
      ...(this.options.limits?.maxQueued ? { max_queued: this.options.limits.maxQueued } : {}),
      watched: await this.watches.count(),
      claimed: claimed ?? 0,
      dead_lettered: dead ?? 0,
      oldest_age_ms:
        oldest === undefined || oldest < 0 || now === undefined ? undefined : now - oldest,
      ...(await alertCounts(this.outbox)),
    };
  }

  async deadLetters(limit: number): Promise<DeadLetter[]> {
    await this.ready();
    const found: DeadLetter[] = [];
    let cursor = "0";
    do {
      const [next, fields] = await this.guard(
        this.client.hscan(QUEUE_KEYS[6] as string, cursor, "COUNT", 100),
      );
      cursor = next;
      for (let i = 1; i < fields.length; i += 2) {
        found.push(fromLua<DeadLetter>(fields[i] as string));
      }
    } while (cursor !== "0" && found.length < limit);
    return found.slice(0, limit);
  }

  async retryDead(): Promise<number> {
    return (await this.run("scanQueueRetryDead", QUEUE_KEYS)) as number;
  }

  async waiting(limit: number): Promise<QueuedScan[]> {
    await this.ready();
    const ids = await this.guard(this.client.zrange(QUEUE_KEYS[1] as string, 0, limit - 1));
    if (ids.length === 0) return [];
    const bodies = await this.guard(this.client.hmget(QUEUE_KEYS[0] as string, ...ids));
    return bodies.flatMap((body) => (body ? [fromLua<QueuedScan>(body)] : []));
  }

  async prune(): Promise<PruneCounts> {
    const limits = this.options.limits ?? {};
    const [deadLetters = 0, watches = 0] = (await this.run("scanQueuePrune", [
      ...QUEUE_KEYS,
      ...WATCH_KEYS,
      limits.deadLetterRetentionMs ?? 0,
      limits.watchRetentionMs ?? 0,
    ])) as number[];
    const deadAlerts = await this.outbox.prune(limits.deadLetterRetentionMs ?? 0);
    return { dead_letters: deadLetters, dead_alerts: deadAlerts, watches };
  }

  /**
   * Redis's persistence, as INFO and CONFIG say it: the append-only file, or RDB snapshots. A
   * managed Redis may refuse CONFIG; then only the append-only file can be confirmed.
   */
  async durability(): Promise<Durability> {
    await this.ready();
    const info = await this.guard(this.client.info("persistence"));
    const aof = /^aof_enabled:1\s*$/m.test(info);
    const save = await this.client.config("GET", "save").then(
      (answer) => String((answer as string[])[1] ?? ""),
      () => undefined,
    );
    return durabilityOf(aof, save);
  }

  async close(): Promise<void> {
    if (this.client.status === "ready") {
      await this.client.quit().catch(() => this.client.disconnect());
    } else {
      this.client.disconnect();
    }
  }

  private async budgetCall(api: HssApi, mode: "take" | "check"): Promise<number[]> {
    return (await this.run("scanQueueBudget", [
      ...budgetKeys(api),
      this.options.callsPerMinute,
      this.options.windowMs,
      randomUUID(),
      mode,
    ])) as number[];
  }

  private async run(name: ScriptName, args: Array<string | number>): Promise<unknown> {
    await this.ready();
    const script = (this.client as unknown as Record<ScriptName, Script>)[name];
    return this.guard(script.apply(this.client, args));
  }

  /** Waits, at most the configured timeout, for a usable connection. */
  private async ready(): Promise<void> {
    if (this.client.status === "ready") return;
    // Commands issued together while connecting wait on one listener, not one each.
    this.connecting ??= this.connected().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private connecting: Promise<void> | undefined;

  private async connected(): Promise<void> {
    const { client } = this;
    if (client.status === "wait" || client.status === "end") client.connect().catch(() => {});
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        client.off("ready", onReady);
        reject(this.unavailable("no connection", { applied: false }));
      }, this.options.timeoutMs);
      const onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      client.once("ready", onReady);
    });
  }

  /**
   * A command's failure as the caller's error, saying whether it may still take effect: one that
   * never left (no writable connection) or that Redis answered with an error did nothing; one that
   * was sent and not answered in time (a slow or paused Redis, a connection lost with it in
   * flight) may run later.
   */
  private async guard<T>(pending: Promise<T>): Promise<T> {
    try {
      return await pending;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const refused = error instanceof Error && error.name === "ReplyError";
      const neverSent = /enableOfflineQueue|Stream isn't writeable/i.test(message);
      throw this.unavailable(message, { applied: refused || neverSent ? false : undefined }, error);
    }
  }

  private unavailable(
    reason: string,
    known: { applied: false | undefined },
    cause?: unknown,
  ): Error {
    const lastMessage = this.lastError?.message;
    const last = lastMessage && lastMessage !== reason ? ` (last error: ${lastMessage})` : "";
    const message = `the Redis scan queue is unavailable (timeout ${this.options.timeoutMs} ms, QUEUE_TIMEOUT_MS): ${reason}${last}`;
    return this.options.unavailable(
      message.slice(0, 400),
      known.applied === false ? "not_applied" : "unknown",
      cause ?? this.lastError,
    );
  }
}

/** Persistence settings in plain words. */
export function durabilityOf(aof: boolean, save: string | undefined): Durability {
  if (aof) {
    return {
      persistent: true,
      aof,
      rdb_save: save,
      detail: "append-only file on: what is queued survives a restart",
    };
  }
  if (save) {
    return {
      persistent: true,
      aof,
      rdb_save: save,
      detail: `RDB snapshots only (save ${save}): a restart loses what was queued since the last snapshot; turn the append-only file on (appendonly yes)`,
    };
  }
  return {
    persistent: false,
    aof,
    rdb_save: save,
    detail:
      save === undefined
        ? "the append-only file is off, and Redis would not say whether it takes snapshots (CONFIG GET save refused): a restart may lose everything queued, with no image reaching HSS; use a DCS instance with persistence (master/standby, AOF on)"
        : "no persistence (append-only file off, no RDB snapshots): a restart loses everything queued, and no image of it reaches HSS; use a DCS instance with persistence (master/standby, AOF on)",
  };
}

// cjson writes an empty Lua table as {} and escapes "/" as "\/"; JSON.parse reads both.
function fromLua<T>(body: string): T {
  return JSON.parse(body) as T;
}
