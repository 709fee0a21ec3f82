import { describe, expect, it } from "vitest";
import { MemoryCallBudget } from "../../../src/hss/call-budget";
import { createLogger } from "../../../src/log";
import { MemoryScanQueue } from "../../../src/queue/memory-queue";
import type { NewScan } from "../../../src/queue/scan-queue";
import { type RescanSettings, rememberForRescan, rescanPass } from "../../../src/rescan/rescan-set";
import { SubmittedImages } from "../../../src/submitted-images";

/** Which images a pass rescans, when, and how many a day: an in-process queue, a set clock. */

const DAY = 86_400_000;
const START = Date.parse("2026-12-03T08:00:00Z");

function setup(changes: Partial<RescanSettings> = {}) {
  let now = START;
  const clock = () => now;
  const queue = new MemoryScanQueue(
    { budget: new MemoryCallBudget(4, 60_000, clock), submitted: new SubmittedImages(60_000, 100) },
    clock,
  );
  const settings: RescanSettings = {
    everyMs: 7 * DAY,
    tags: undefined,
    newest: 0,
    reportFixed: false,
    fromHss: false,
    withinMs: 30 * DAY,
    maxPerDay: 5,
    ...changes,
  };
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({ level: "info", write: (line) => lines.push(JSON.parse(line)) });
  const pass = (force = false, limit = 100) =>
    rescanPass({ queue, settings, dedupeWindowMs: 60_000, limit, force, log, now: clock });
  return {
    queue,
    settings,
    lines,
    pass,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

const pushes = (...tags: string[]): NewScan[] =>
  tags.map((tag) => ({
    id: `push-${tag}`,
    image_type: "private_image",
    target: { namespace: "team", image_name: "api", image_version: tag },
    digest: `sha256:${tag}`,
  }));

/** Takes everything queued, as HSS accepting it would: what the pass put there. */
async function queuedTags(queue: MemoryScanQueue): Promise<string[]> {
  const claim = await queue.claim(1000, 60_000);
  if (!claim) return [];
  await queue.accepted(claim, 0);
  return claim.scans.map((scan) => `${scan.target.image_version}${scan.rescan ? "" : "!"}`);
}

describe("the rescan set and its passes", () => {
  it("rescans a pushed image once its cadence has passed, not before, and again a cadence later", async () => {
    const { queue, settings, pass, advance } = setup();
    await rememberForRescan(pushes("1"), settings, queue, START);

    expect((await pass()).held).toBe("nothing_due");
    advance(7 * DAY);
    expect((await pass()).queued).toBe(1);
    expect(await queuedTags(queue)).toEqual(["1"]);
    advance(DAY);
    expect((await pass()).held).toBe("nothing_due");
    advance(6 * DAY);
    expect((await pass()).queued).toBe(1);
  });

  it("keeps to RESCAN_MAX_PER_DAY, and takes up the rest the next day", async () => {
    const { queue, settings, pass, advance } = setup({ maxPerDay: 3 });
    await rememberForRescan(pushes("1", "2", "3", "4", "5"), settings, queue, START);
    advance(7 * DAY);

    const first = await pass();
    await queuedTags(queue);
    const capped = await pass();
    advance(DAY);
    const next = await pass();
    expect(await queuedTags(queue)).toHaveLength(2);

    expect(first).toMatchObject({ queued: 3, spent_today: 3, max_per_day: 3 });
    expect(capped.held).toBe("cap_reached");
    expect(next).toMatchObject({ queued: 2, spent_today: 2 });
  });

  it("goes after the pushes: nothing is queued while pushed images wait", async () => {
    const { queue, settings, pass, advance } = setup();
    await rememberForRescan(pushes("1"), settings, queue, START);
    advance(7 * DAY);
    await queue.enqueue(pushes("2"), 60_000);

    expect((await pass()).held).toBe("pushes_waiting");
    // Forced (rescan --now): it goes all the same, behind the push in the queue.
    expect((await pass(true)).queued).toBe(1);
  });

  it("drops an image not pushed again within RESCAN_WITHIN_DAYS", async () => {
    const { queue, settings, pass, advance } = setup({ withinMs: 10 * DAY });
    await rememberForRescan(pushes("1"), settings, queue, START);
    advance(7 * DAY);
    expect((await pass()).queued).toBe(1);
    await queuedTags(queue);
    advance(7 * DAY);

    expect(await pass()).toMatchObject({ queued: 0, expired: 1 });
    expect(await queue.rescans.count()).toBe(0);
  });

  it("takes only tags matching RESCAN_TAGS, and only each repository's newest RESCAN_NEWEST", async () => {
    const { queue, settings } = setup({ tags: ["v*", "release-*"], newest: 2 });
    await rememberForRescan(pushes("v1", "dev-1", "release-1"), settings, queue, START);
    await rememberForRescan(pushes("v2"), settings, queue, START + 1000);

    const all = await queue.rescans.peekDue(100);
    expect(all).toEqual([]);
    const set = await queue.rescans.claimDue(100, 0, 30 * DAY);
    expect(set.map((entry) => entry.target.image_version).sort()).toEqual(["release-1", "v2"]);
  });

  it("a forced pass takes every image of the set at once, within the cap", async () => {
    const { queue, settings, pass } = setup({ maxPerDay: 2 });
    await rememberForRescan(pushes("1", "2", "3"), settings, queue, START);

    expect(await pass(true)).toMatchObject({ queued: 2, spent_today: 2 });
    expect(await queuedTags(queue)).toHaveLength(2);
  });
});
