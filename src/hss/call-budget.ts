import type { ScanApiName } from "../scan-apis";
import type { AroundScanApi } from "./apis";
/**
 * HSS lets one user call each API at most 5 times a minute (and 5 per source IP); beyond that the
 * API gateway answers 429 APIGW.0308. A call budget keeps this project under that limit: every
 * HSS call first takes a slot, and a slot is given only while fewer than `callsPerMinute` calls of
 * the same API were made in the last window. A 429 spends the whole window: nothing is sent to
 * that API until it has passed, so a throttled caller does not keep the window full itself.
 *
 * The memory budget below is per process (direct mode, `npm start`); the Redis queue holds the
 * budget shared by every instance using it (src/queue/redis-queue.ts).
 */

/**
 * The API the budget is counted for; each HSS API has its own five calls. `swr-webhooks` counts
 * the SWR calls of the wiring (src/wiring/), in a budget of their own.
 */
export type HssApi = ScanApiName | AroundScanApi | "swr-webhooks";

/**
 * How long a call counts against the budget by default (HSS_RATE_WINDOW_SECONDS). HSS counts a
 * rolling minute; a call is counted here from just before it is sent, so a second more keeps a
 * late-arriving call inside our own window.
 */
export const RATE_WINDOW_MS = 61_000;

export interface BudgetState {
  /** Calls that may be made now. */
  remaining: number;
  /** Calls made in the current window. */
  used: number;
  /** When `remaining` is 0: how long until a slot frees. */
  retryAfterMs: number;
}

export interface CallBudget {
  readonly scope: "instance" | "shared";
  /** How long a call counts against the budget, and how long a 429 blocks. */
  readonly windowMs: number;
  /** Looks without taking. */
  check(api: HssApi): Promise<BudgetState>;
  /** Takes a slot if one is free; the only way to be allowed a call. */
  take(api: HssApi): Promise<{ granted: boolean; retryAfterMs: number }>;
  /** The gateway answered 429: treat the window as spent from now. */
  spendWindow(api: HssApi): Promise<void>;
}

export class MemoryCallBudget implements CallBudget {
  readonly scope = "instance" as const;
  private readonly calls = new Map<HssApi, number[]>();
  private readonly blockedUntil = new Map<HssApi, number>();

  constructor(
    private readonly callsPerWindow: number,
    readonly windowMs: number = RATE_WINDOW_MS,
    private readonly now: () => number = Date.now,
  ) {}

  async check(api: HssApi): Promise<BudgetState> {
    return this.state(api, this.now());
  }

  async take(api: HssApi): Promise<{ granted: boolean; retryAfterMs: number }> {
    const now = this.now();
    const state = this.state(api, now);
    if (state.remaining <= 0) return { granted: false, retryAfterMs: state.retryAfterMs };
    this.recent(api, now).push(now);
    return { granted: true, retryAfterMs: 0 };
  }

  async spendWindow(api: HssApi): Promise<void> {
    this.blockedUntil.set(api, this.now() + this.windowMs);
  }

  private state(api: HssApi, now: number): BudgetState {
    const calls = this.recent(api, now);
    const blocked = (this.blockedUntil.get(api) ?? 0) - now;
    if (blocked > 0) return { remaining: 0, used: calls.length, retryAfterMs: blocked };
    const remaining = Math.max(0, this.callsPerWindow - calls.length);
    const oldest = calls[0] ?? now;
    return {
      remaining,
      used: calls.length,
      retryAfterMs: remaining > 0 ? 0 : oldest + this.windowMs - now,
    };
  }

  private recent(api: HssApi, now: number): number[] {
    const calls = (this.calls.get(api) ?? []).filter((at) => at > now - this.windowMs);
    this.calls.set(api, calls);
    return calls;
  }
}
