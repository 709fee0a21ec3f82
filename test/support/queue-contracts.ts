import { expect, it } from "vitest";
import { MemoryCallBudget } from "../../src/hss/call-budget";
import { type ScanTarget, scanKey } from "../../src/images/scan-target";
import { alertKey } from "../../src/notify/alert";
import type { OutboxEntry } from "../../src/notify/outbox";
import { queueBackendOf } from "../../src/queue/backends";
import {
  type Claim,
  QueueFullError,
  type QueueLimits,
  type RescanEntry,
  type ScanQueue,
  type Watch,
  watchOf,
} from "../../src/queue/scan-queue";
import { SubmittedImages } from "../../src/submitted-images";
import { sampleAlert } from "./alerts";

/**
 * The queue's contract, one suite per role (src/queue/scan-queue.ts: intake, claims, the
 * operator's view, and the stores beside the queue: budget, watches, rescans, outbox), run on
 * every backend the registry holds (test/integration/queue/contracts.test.ts). Each test starts
 * from an empty backend; `open` gives another handle on the same backend (another instance).
 */

const BATCH_SCAN_API = "batch-scan";
export const WINDOW = 60_000;
/** The limits the contract's queues have: a small bound and short retentions, to test them. */
const LIMITS: QueueLimits = { maxQueued: 40, deadLetterRetentionMs: 400, watchRetentionMs: 400 };

export const target = (tag: string, name = "api"): ScanTarget => ({
  namespace: "team",
  image_name: name,
  image_version: tag,
  instance_id: "inst-1",
});
/** A queued image of the contract's: `team/api:<tag>` with digest `sha256:<tag>`. */
export const scan = (
  tag: string,
  digest = `sha256:${tag}`,
  imageType = "instance_image" as const,
) => {
  const t = target(tag);
  return { id: scanKey(imageType, t, digest), image_type: imageType, target: t, digest };
};
export const tags = (scans: Array<{ target: ScanTarget }>) =>
  scans.map((s) => s.target.image_version);
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const many = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => scan(`b${from + i}`));

/** Opens the backend SCAN_QUEUE=`value` names, through the registry, as the function does. */
export function openBackend(value: string): Promise<ScanQueue> {
  return queueBackendOf(value).open({
    value,
    limits: LIMITS,
    callsPerMinute: 3,
    windowMs: 61_000,
    timeoutMs: 1000,
    own: { budget: new MemoryCallBudget(3), submitted: new SubmittedImages(WINDOW, 1000) },
  });
}

/** Every role's suite, for a backend opened by `open` (a fresh handle each call). */
export function queueContracts(
  queue: () => ScanQueue,
  open: () => Promise<ScanQueue>,
  shared: boolean,
): void {
  intakeContract(queue);
  claimsContract(queue);
  adminContract(queue);
  budgetContract(queue, open, shared);
  watchesContract(queue);
  rescansContract(queue);
  outboxContract(queue);
}

/** intake (ScanIntake). */
function intakeContract(queue: () => ScanQueue): void {
  it("holds one entry for the same image and digest queued twice", async () => {
    const outcomes = await queue().enqueue([scan("1"), scan("1"), scan("2")], WINDOW);
    expect(outcomes.map((o) => o.status)).toEqual(["queued", "already_queued", "queued"]);
    expect(await queue().counts()).toMatchObject({ pending: 2, claimed: 0, dead_lettered: 0 });
  });
  it("forgets an accepted image but refuses its retried delivery within the dedupe window", async () => {
    await queue().enqueue([scan("latest", "sha256:old")], WINDOW);
    const claim = await queue().claim(10, 10_000);
    if (!claim) throw new Error("expected a claim");
    await queue().accepted(claim, WINDOW);

    const retried = await queue().enqueue([scan("latest", "sha256:old")], WINDOW);
    const repushed = await queue().enqueue([scan("latest", "sha256:new")], WINDOW);

    expect(retried[0]?.status).toBe("submitted_recently");
    expect(repushed[0]?.status).toBe("queued");
    expect(await queue().counts()).toMatchObject({ pending: 1, claimed: 0 });
  });
  it("queues an accepted image again when the dedupe window is 0", async () => {
    await queue().enqueue([scan("1")], 0);
    const claim = await queue().claim(10, 10_000);
    if (!claim) throw new Error("expected a claim");
    await queue().accepted(claim, 0);
    expect((await queue().enqueue([scan("1")], 0))[0]?.status).toBe("queued");
  });
  it("queues an accepted image again when forced (a re-scan), not otherwise", async () => {
    await queue().enqueue([scan("1")], WINDOW);
    const claim = await queue().claim(10, 60_000);
    await queue().accepted(claim as Claim, WINDOW);
    expect((await queue().enqueue([scan("1")], WINDOW))[0]?.status).toBe("submitted_recently");
    expect((await queue().enqueue([scan("1")], WINDOW, { force: true }))[0]?.status).toBe("queued");
    expect(tags((await queue().claim(10, 60_000))?.scans ?? [])).toEqual(["1"]);
  });
  it("refuses a request that would pass MAX_QUEUED_IMAGES whole, counting only new images", async () => {
    await queue().enqueue(many(0, 30), WINDOW);
    const error = await queue()
      .enqueue(many(25, 20), WINDOW)
      .catch((e: Error) => e);
    expect(error).toBeInstanceOf(QueueFullError);
    // 5 of the 20 are queued already: 30 + 15 new > 40.
    expect(error).toMatchObject({ queued: 30, adding: 15, max: 40 });
    expect((await queue().counts()).pending).toBe(30);
    expect(await queue().enqueue(many(25, 15), WINDOW)).toHaveLength(15);
    expect((await queue().counts()).pending).toBe(40);
  });
  it("never refuses what the follow-up puts back (force)", async () => {
    await queue().enqueue(many(0, 40), WINDOW);
    const outcomes = await queue().enqueue([scan("again")], WINDOW, { force: true });
    expect(outcomes).toEqual([{ status: "queued" }]);
    expect(await queue().counts()).toMatchObject({ pending: 41, max_queued: 40 });
  });
}

/** claims (ScanClaims). */
function claimsContract(queue: () => ScanQueue): void {
  it("claims the oldest images of one image type, and no one else can claim them", async () => {
    const shared = { ...scan("s"), image_type: "shared_image" as const };
    await queue().enqueue([scan("1"), shared, scan("2"), scan("3")], WINDOW);
    const first = await queue().claim(2, 10_000);
    const second = await queue().claim(10, 10_000);
    const third = await queue().claim(10, 10_000);
    expect(tags(first?.scans ?? [])).toEqual(["1", "2"]);
    expect(second?.scans.map((s) => s.image_type)).toEqual(["shared_image"]);
    expect(tags(third?.scans ?? [])).toEqual(["3"]);
    expect(await queue().claim(10, 10_000)).toBeUndefined();
    expect(await queue().counts()).toMatchObject({ pending: 0, claimed: 4 });
  });
  it("gives a claim whose lease expired to the next claimer", async () => {
    await queue().enqueue([scan("1")], WINDOW);
    const abandoned = await queue().claim(10, 300);
    expect(await queue().claim(10, 300)).toBeUndefined();
    await sleep(400);
    const taken = await queue().claim(10, 10_000);
    expect(tags(taken?.scans ?? [])).toEqual(["1"]);

    // The first claimer's late settlement changes nothing.
    if (!abandoned) throw new Error("expected a claim");
    await queue().release(abandoned, { delayMs: 0, countAttempt: true, maxAttempts: 1 });
    expect(await queue().counts()).toMatchObject({ pending: 0, claimed: 1, dead_lettered: 0 });
  });
  it("keeps a released image back for its delay and counts the attempt", async () => {
    await queue().enqueue([scan("1")], WINDOW);
    const claim = await queue().claim(10, 10_000);
    if (!claim) throw new Error("expected a claim");
    const error = { error_code: "HSS.1000", error_msg: "internal", http_status: 500 };
    await queue().release(claim, { delayMs: 400, countAttempt: true, maxAttempts: 5, error });
    expect(await queue().claim(10, 10_000)).toBeUndefined();
    await sleep(500);
    const again = await queue().claim(10, 10_000);
    expect(again?.scans[0]).toMatchObject({ attempts: 1, last_error: error });
  });
  it("dead-letters an image whose attempts ran out, and retry-dead brings it back", async () => {
    await queue().enqueue([scan("1")], WINDOW);
    const claim = await queue().claim(10, 10_000);
    if (!claim) throw new Error("expected a claim");
    const error = { error_code: "TIMEOUT", error_msg: "timeout" };
    const dead = await queue().release(claim, {
      delayMs: 0,
      countAttempt: true,
      maxAttempts: 1,
      error,
    });
    expect(tags(dead)).toEqual(["1"]);
    expect(await queue().counts()).toMatchObject({ pending: 0, dead_lettered: 1 });
    expect((await queue().enqueue([scan("1")], WINDOW))[0]?.status).toBe("dead_lettered");
    expect(await queue().deadLetters(10)).toEqual([
      expect.objectContaining({ scan: expect.objectContaining({ id: scan("1").id }), error }),
    ]);

    expect(await queue().retryDead()).toBe(1);
    const again = await queue().claim(10, 10_000);
    expect(again?.scans[0]).toMatchObject({ id: scan("1").id, attempts: 0 });
  });
  it("splits a rejected batch into two groups that are claimed apart from other images", async () => {
    await queue().enqueue(
      ["1", "2", "3", "4", "5"].map((tag) => scan(tag)),
      WINDOW,
    );
    const claim = await queue().claim(4, 10_000);
    if (!claim) throw new Error("expected a claim");
    await queue().release(claim, { delayMs: 0, countAttempt: false, maxAttempts: 1, split: true });
    const claims = [];
    for (let i = 0; i < 4; i++) claims.push(tags((await queue().claim(10, 10_000))?.scans ?? []));
    // The image that waited longest comes first; then each half of the split batch on its own.
    expect(claims).toEqual([["5"], ["1", "2"], ["3", "4"], []]);
  });
  it("moves a rejected image to the dead-letter list with HSS's error", async () => {
    await queue().enqueue([scan("bad")], WINDOW);
    const claim = await queue().claim(1, 10_000);
    if (!claim) throw new Error("expected a claim");
    const error = { http_status: 400, error_code: "HSS.0001", error_msg: "invalid parameter" };
    await queue().deadLetter(claim, error);
    expect(await queue().counts()).toMatchObject({ pending: 0, claimed: 0, dead_lettered: 1 });
    expect((await queue().deadLetters(5))[0]).toMatchObject({
      error,
      scan: { digest: "sha256:bad" },
    });
  });
  it("buries images straight into the dead letters with the error, and retry-dead queues them", async () => {
    await queue().enqueue([scan("2")], WINDOW);
    await queue().bury([
      { scan: scan("1"), error: { error_code: "NOT_SYNCED", error_msg: "never listed" } },
      { scan: scan("2"), error: { error_code: "NO_SCAN_RESULT", error_msg: "no result" } },
    ]);
    const letters = await queue().deadLetters(10);
    expect(letters.map((letter) => letter.error?.error_code).sort()).toEqual([
      "NOT_SYNCED",
      "NO_SCAN_RESULT",
    ]);
    expect(await queue().counts()).toMatchObject({ pending: 0, dead_lettered: 2 });
    expect(await queue().retryDead()).toBe(2);
    expect((await queue().counts()).pending).toBe(2);
  });
}

/** the operator's view (QueueAdmin). */
function adminContract(queue: () => ScanQueue): void {
  it("reports the age of the oldest image not yet accepted", async () => {
    await queue().enqueue([scan("1")], WINDOW);
    await sleep(200);
    const counts = await queue().counts();
    expect(counts.oldest_age_ms).toBeGreaterThanOrEqual(150);
    expect(counts.oldest_age_ms).toBeLessThan(5000);
  });
  it("lists the oldest images waiting", async () => {
    await queue().enqueue(many(0, 3), WINDOW);
    expect(tags(await queue().waiting(2))).toEqual(["b0", "b1"]);
  });
  it("drops dead letters and overdue watches past their retention", async () => {
    await queue().bury([{ scan: scan("old"), error: { error_code: "X", error_msg: "x" } }]);
    await queue().watches.add([watchOf(scan("w"), "scanning", Date.now())], 0);
    expect(await queue().prune()).toEqual({ dead_letters: 0, dead_alerts: 0, watches: 0 });
    await sleep(600);
    await queue().bury([{ scan: scan("new"), error: { error_code: "X", error_msg: "x" } }]);
    expect(await queue().prune()).toEqual({ dead_letters: 1, dead_alerts: 0, watches: 1 });
    expect(
      (await queue().deadLetters(10)).map((letter) => letter.scan.target.image_version),
    ).toEqual(["new"]);
    expect(await queue().watches.count()).toBe(0);
  });
}

/** the call budget (QueueStores.budget). */
function budgetContract(
  queue: () => ScanQueue,
  open: () => Promise<ScanQueue>,
  shared: boolean,
): void {
  it("gives at most callsPerMinute calls, and none after a 429 spent the window", async () => {
    const grants = [];
    for (let i = 0; i < 4; i++) grants.push(await queue().budget.take(BATCH_SCAN_API));
    expect(grants.map((g) => g.granted)).toEqual([true, true, true, false]);
    expect(grants[3]?.retryAfterMs).toBeGreaterThan(55_000);
    expect(await queue().budget.check(BATCH_SCAN_API)).toMatchObject({ remaining: 0, used: 3 });

    const fresh = await open();
    try {
      // A new in-process queue has its own budget; a shared backend's is the same budget.
      const sameBudget = (await fresh.budget.check(BATCH_SCAN_API)).remaining === 0;
      expect(sameBudget).toBe(shared);
      await fresh.budget.spendWindow(BATCH_SCAN_API);
      expect((await fresh.budget.take(BATCH_SCAN_API)).granted).toBe(false);
    } finally {
      await fresh.close();
    }
  });
  it("counts each HSS API's budget apart", async () => {
    for (let i = 0; i < 3; i++) await queue().budget.take(BATCH_SCAN_API);
    expect((await queue().budget.take(BATCH_SCAN_API)).granted).toBe(false);
    expect((await queue().budget.take("list-images")).granted).toBe(true);
    expect(await queue().budget.check("list-images")).toMatchObject({ used: 1, remaining: 2 });
  });
}

/** the watches (QueueStores.watches). */
function watchesContract(queue: () => ScanQueue): void {
  valuesContract(queue);
  it("keeps watches: due ones are claimed under a lease, updated, removed, counted", async () => {
    const now = Date.now();
    const watch = (tag: string): Watch => ({
      ...scan(tag),
      state: "scanning",
      requested_at: now,
      since: now,
      watched_at: now,
    });
    await queue().watches.add([watch("1"), watch("2")], 0);
    await queue().watches.add([watch("3")], 60_000);
    expect(await queue().watches.count()).toBe(3);
    expect((await queue().counts()).watched).toBe(3);

    const due = await queue().watches.claimDue(10, 300);
    expect(tags(due).sort()).toEqual(["1", "2"]);
    // Under the lease, no one else checks them.
    expect(await queue().watches.claimDue(10, 300)).toEqual([]);
    await queue().watches.add([{ ...watch("1"), state: "syncing" }], 0);
    await queue().watches.remove([scan("2").id]);
    const again = await queue().watches.claimDue(10, 300);
    expect(again.map((w) => [w.target.image_version, w.state])).toEqual([["1", "syncing"]]);
    // The lease ran out: due again (an instance that died mid-check).
    await sleep(450);
    expect(tags(await queue().watches.claimDue(10, 300))).toEqual(["1"]);
    expect(await queue().watches.count()).toBe(2);
  });
  it("answers `once` true for the first caller of a key within its time", async () => {
    expect(await queue().watches.once("sync:a", 300)).toBe(true);
    expect(await queue().watches.once("sync:a", 300)).toBe(false);
    expect(await queue().watches.once("sync:b", 300)).toBe(true);
    await sleep(400);
    expect(await queue().watches.once("sync:a", 300)).toBe(true);
  });
}

/** The rescan set (QueueStores.rescans). */
function rescansContract(queue: () => ScanQueue): void {
  const entry = (tag: string): RescanEntry => ({
    id: `rescan:${tag}`,
    image_type: "instance_image",
    target: target(tag),
    digest: `sha256:${tag}`,
    pushed_at: Date.now(),
  });

  it("rescans: claims due entries under a lease, peeks without one, looks ahead when forced", async () => {
    const set = queue().rescans;
    await set.put([entry("1"), entry("2")], 0);
    await set.put([entry("3")], 60_000);
    expect(await set.count()).toBe(3);
    expect(tags(await set.peekDue(10)).sort()).toEqual(["1", "2"]);
    expect(tags(await set.claimDue(10, 300)).sort()).toEqual(["1", "2"]);
    // Under the lease: not due for anyone else; with a horizon (a forced pass), everything due
    // before it, the later one and the leased ones included.
    expect(await set.claimDue(10, 300)).toEqual([]);
    expect(tags(await set.claimDue(10, 300, 120_000)).sort()).toEqual(["1", "2", "3"]);
    const next = await set.nextDueAt();
    expect(next).toBeGreaterThan(Date.now());
    expect(next).toBeLessThanOrEqual(Date.now() + 1000);
    await sleep(400);
    expect(tags(await set.claimDue(10, 60_000)).sort()).toEqual(["1", "2", "3"]);
  });

  it("rescans: removes entries and names the ids it does not hold", async () => {
    const set = queue().rescans;
    await set.put([entry("1"), entry("2")], 0);
    await set.remove(["rescan:1"]);
    expect(await set.missing(["rescan:1", "rescan:2", "rescan:9"])).toEqual([
      "rescan:1",
      "rescan:9",
    ]);
    expect(await set.count()).toBe(1);
    await set.remove(["rescan:2"]);
    expect(await set.nextDueAt()).toBeUndefined();
  });
}

/** The alerts' outbox (QueueStores.outbox): exactly once per key, leases, retries, rates. */
function outboxContract(queue: () => ScanQueue): void {
  const entry = (tag: string, channel = "ding"): OutboxEntry => {
    const alert = sampleAlert({ tags: [tag], digest: `sha256:${tag.padEnd(64, "0")}` });
    return {
      key: alertKey("r", channel, alert),
      route: "r",
      channel,
      alert,
      created_at: Date.now(),
      attempts: 0,
    };
  };

  it("outbox: holds one alert per key, merges new tags, and never sends a sent key again", async () => {
    const { outbox } = queue();
    expect(await outbox.put([entry("1"), entry("2")], 0)).toEqual({
      added: 2,
      merged: 0,
      already_sent: 0,
    });
    const again = { ...entry("1"), alert: { ...entry("1").alert, tags: ["1", "1-b"] } };
    expect(await outbox.put([again], 0)).toMatchObject({ added: 0, merged: 1 });
    const claimed = await outbox.claim("ding", 10, 300);
    expect(claimed.map((one) => one.alert.tags)).toEqual(
      expect.arrayContaining([["1", "1-b"], ["2"]]),
    );
    expect(await outbox.claim("ding", 10, 300)).toEqual([]);
    await outbox.sent(claimed, 60_000);
    expect(await outbox.put([entry("1")], 0)).toMatchObject({ added: 0, already_sent: 1 });
    expect(await outbox.counts()).toEqual({ alerts_waiting: 0, alerts_dead: 0 });
  });

  it("outbox: a retry waits its delay, a burial is kept until retry-dead", async () => {
    const { outbox } = queue();
    await outbox.put([entry("1"), entry("2")], 0);
    const [first, second] = await outbox.claim("ding", 10, 300);
    if (!first || !second) throw new Error("expected two claimed alerts");
    await outbox.retry([{ ...first, attempts: 1 }], 400);
    await outbox.bury([second]);
    expect(await outbox.claim("ding", 10, 300)).toEqual([]);
    expect(await outbox.counts()).toEqual({ alerts_waiting: 1, alerts_dead: 1 });
    expect((await outbox.dead(10)).map((one) => one.key)).toEqual([second.key]);
    await sleep(500);
    expect((await outbox.claim("ding", 10, 300)).map((one) => one.attempts)).toEqual([1]);
    expect(await outbox.retryDead()).toBe(1);
    expect((await outbox.claim("ding", 10, 300)).map((one) => one.key)).toEqual([second.key]);
  });

  it("outbox: drops dead alerts past the dead letters' retention when the queue is pruned", async () => {
    const { outbox } = queue();
    await outbox.put([entry("old"), entry("new")], 0);
    const claimed = await outbox.claim("ding", 10, 300);
    const tagOf = (one: OutboxEntry) => one.alert.tags[0];
    await outbox.bury(claimed.filter((one) => tagOf(one) === "old"));
    await sleep(600);
    await outbox.bury(claimed.filter((one) => tagOf(one) === "new"));
    expect(await queue().prune()).toMatchObject({ dead_alerts: 1 });
    expect((await outbox.dead(10)).map(tagOf)).toEqual(["new"]);
    expect(await outbox.counts()).toEqual({ alerts_waiting: 0, alerts_dead: 1 });
    expect(await queue().prune()).toMatchObject({ dead_alerts: 0 });
  });

  it("outbox: takes a channel's rate whole or one, and holds a blocked channel", async () => {
    const { outbox } = queue();
    const rules = [{ limit: 3, windowMs: 60_000 }];
    expect((await outbox.take("ding", rules, 2)).granted).toBe(2);
    // Two wanted, one left: one, for a summary.
    expect((await outbox.take("ding", rules, 2)).granted).toBe(1);
    const none = await outbox.take("ding", rules, 1);
    expect(none.granted).toBe(0);
    expect(none.nextAt).toBeGreaterThan(Date.now());
    expect((await outbox.take("other", rules, 1)).granted).toBe(1);
    await outbox.block("other", 5000);
    expect(await outbox.blockedFor("other")).toBeGreaterThan(4000);
    expect(await outbox.blockedFor("ding")).toBe(0);
  });
}

/** Small values and counters beside the watches (QueueStores.watches: keep, kept, tally). */
function valuesContract(queue: () => ScanQueue): void {
  it("watches: keeps a value for its time, and tallies a counter from its first count", async () => {
    const { watches } = queue();
    await watches.keep("place", "42", 300);
    expect(await watches.kept("place")).toBe("42");
    await watches.keep("place", undefined, 300);
    expect(await watches.kept("place")).toBeUndefined();
    expect(await watches.tally("spent", 2, 300)).toBe(2);
    expect(await watches.tally("spent", 3, 300)).toBe(5);
    await watches.keep("short", "x", 300);
    await sleep(400);
    expect(await watches.kept("short")).toBeUndefined();
    expect(await watches.tally("spent", 1, 300)).toBe(1);
  });
}
