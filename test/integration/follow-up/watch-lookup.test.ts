import { afterEach, describe, expect, it } from "vitest";
import { EVERY_UNKNOWNS, type HssUnknowns } from "../../../src/emulator/emulated-registry";
import { type HssEmulator, startHssEmulator } from "../../../src/emulator/hss-emulator";
import { refKey } from "../../../src/follow-up/lookup";
import {
  EXACT_PER_CHECK,
  lookUpWatches,
  type WatchLookup,
  type WatchLookupOptions,
} from "../../../src/follow-up/watch-lookup";
import { hssApiClient } from "../../../src/hss/apis";
import { MemoryCallBudget } from "../../../src/hss/call-budget";
import { MemoryWatchStore } from "../../../src/queue/memory-queue";
import type { Watch } from "../../../src/queue/scan-queue";
import { standInCaller } from "../../support/callers";

/**
 * The follow-up's lookup against the HSS emulator in every combination of what HSS leaves
 * undefined (a sync stamping every image or only new ones; never-scanned images sorted first or
 * last): its cost grows with what changed (scans that ended, tags new to HSS), never with the
 * registry, and a list cut short goes on where it stopped.
 */

const INSTANCE = "inst-big";
const TIMINGS = { syncMs: 200, scanStartMs: 50, scanMs: 300 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let emulator: HssEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

async function start(unknowns: HssUnknowns, seeded: number) {
  emulator = await startHssEmulator({ rateLimit: false, timings: TIMINGS, unknowns });
  // The registry as HSS already covers it: scanned an hour ago.
  for (let i = 0; i < seeded; i++) {
    emulator.push({ ...image(i, "old"), synced: true, scanned: true });
  }
  const caller = standInCaller(emulator);
  return { emulator, caller, hss: hssApiClient({ caller, timeoutMs: 5000 }) };
}

function image(i: number, prefix = "new") {
  return {
    image_type: "instance_image" as const,
    namespace: `team-${i % 40}`,
    image_name: `svc-${Math.floor(i / 40) % 5}`,
    image_version: `${prefix}-${i}`,
    instance_id: INSTANCE,
    host: "swr-ee.example.com",
  };
}

function watchOf(i: number, changes: Partial<Watch> = {}): Watch {
  const { image_type, host: _host, ...target } = image(i);
  const at = Date.now();
  return {
    id: `w-${i}`,
    image_type,
    target,
    state: "scanning",
    requested_at: at,
    since: at,
    watched_at: at,
    ...changes,
  };
}

/** A check as the follow-up makes it; the watches keep what it read, as the follow-up's do. */
function checker(hss: ReturnType<typeof hssApiClient>, budget = new MemoryCallBudget(1000)) {
  const places = new MemoryWatchStore(Date.now);
  return async (
    watches: Watch[],
    options: Partial<WatchLookupOptions> = {},
  ): Promise<[WatchLookup, Watch[]]> => {
    const lookup = await lookUpWatches(watches, {
      hss,
      budget,
      deadline: Date.now() + 10_000,
      now: Date.now(),
      staleMs: 60_000,
      syncTimeoutMs: 900_000,
      places,
      placeTtlMs: 900_000,
      ...options,
    });
    const kept = watches.map((watch) => ({
      ...watch,
      ...lookup.progress.get(refKey(watch)),
      ...(lookup.sightings.get(refKey(watch))?.kind === "listed" ? { listed: true } : {}),
    }));
    return [lookup, kept];
  };
}

const kinds = (lookup: WatchLookup, watches: Watch[]) => {
  const counts: Record<string, number> = {};
  for (const watch of watches) {
    const kind = lookup.sightings.get(refKey(watch))?.kind ?? "not looked at";
    counts[kind] = (counts[kind] ?? 0) + 1;
  }
  return counts;
};

/** Asks the emulator (through HSS's own API) to sync the instance's registry, and waits for it. */
async function syncRegistry(hss: ReturnType<typeof hssApiClient>) {
  await hss.createImageSynchronizeTask({ sync_all_registries: true });
  await sleep(TIMINGS.syncMs + 50);
}

describe.each(EVERY_UNKNOWNS)(
  "following watches (a sync stamps $syncStamps images, never-scanned sorted $neverScanned)",
  (unknowns) => {
    it("spends a page per 200 of what changed, in a registry of 2,000 scanned images", async () => {
      // Prepare: 300 tags pushed, their scans asked for while HSS did not know them
      const { emulator, hss, caller } = await start(unknowns, 2000);
      const burst = Array.from({ length: 300 }, (_, i) => image(i));
      emulator.push(...burst);
      const check = checker(hss);
      let watches = burst.map((_, i) => watchOf(i));

      // Act 1: HSS lists none of them: not among its finished scans, nor its new tags
      const [first, afterFirst] = await check(watches);
      // Act 2: once synced, they are among its new tags (waiting for a sync now)
      await syncRegistry(hss);
      watches = afterFirst.map((watch) => ({
        ...watch,
        state: "syncing",
        since: Date.now(),
        unrequested: true,
      }));
      const [second] = await check(watches);
      // Act 3: scanned, their results are among its finished scans
      const requested = Date.now();
      await caller.call(
        {
          method: "POST",
          pathTemplate: "/v5/{project_id}/image/batch-scan",
          query: {},
          body: {
            image_type: "instance_image",
            image_info_list: watches.map((watch) => watch.target),
          },
        },
        { timeoutMs: 5000 },
      );
      await sleep(TIMINGS.scanMs + 50);
      watches = watches.map((watch) => ({
        ...watch,
        state: "scanning",
        requested_at: requested,
        listed: true,
        finished_from: undefined,
        unrequested: undefined,
      }));
      const [third] = await check(watches);

      // Assess: what each check found, and that its lists held what changed, not the registry
      expect(kinds(first, watches)).toEqual({ unlisted: 300 });
      expect(first.registries).toEqual([
        expect.objectContaining({
          calls: 2,
          finished: { pages: 1, items: 0 },
          fresh: { pages: 1, items: 0 },
        }),
      ]);
      expect(kinds(second, watches)).toEqual({ listed: 300 });
      // No scan was asked for any of them: none of theirs can have ended, that list is not read.
      expect(second.registries[0]).toMatchObject({ calls: 2, fresh: { pages: 2, items: 300 } });
      expect(second.registries[0]?.finished).toBeUndefined();
      expect(kinds(third, watches)).toEqual({ listed: 300 });
      expect(third.registries[0]).toMatchObject({
        calls: 2,
        finished: { pages: 2, items: 300 },
      });
      for (const [, sighting] of third.sightings) {
        expect(sighting).toMatchObject({ item: { scan_status: "success" } });
      }
    });

    it("goes on where a list of finished scans cut short by the budget stopped", async () => {
      // Prepare: 450 images, one scan request for all: their results end at the same moment
      const { emulator, hss, caller } = await start(unknowns, 500);
      const images = Array.from({ length: 450 }, (_, i) => image(i));
      emulator.push(...images.map((entry) => ({ ...entry, synced: true })));
      const requested = Date.now();
      await caller.call(
        {
          method: "POST",
          pathTemplate: "/v5/{project_id}/image/batch-scan",
          query: {},
          body: {
            image_type: "instance_image",
            image_info_list: images.map(({ image_type: _t, host: _h, ...target }) => target),
          },
        },
        { timeoutMs: 5000 },
      );
      await sleep(TIMINGS.scanMs + 50);
      let watches = images.map((_, i) => watchOf(i, { requested_at: requested, listed: true }));
      const check = checker(hss);
      const before = emulator.received.length;

      // Act: one list call a check
      const found = new Set<string>();
      let items = 0;
      for (let round = 0; round < 3; round++) {
        const [lookup, kept] = await check(watches, { maxCalls: 1 });
        items += lookup.registries[0]?.finished?.items ?? 0;
        for (const [key, sighting] of lookup.sightings) {
          if (sighting.kind === "listed") found.add(key);
        }
        watches = kept.filter((watch) => !found.has(refKey(watch)));
      }

      // Assess: every result found in three calls, no item read twice (each check started at
      // the time, and the place within it, where the last one stopped)
      expect(found.size).toBe(450);
      expect(items).toBe(450);
      expect(emulator.received.length - before).toBe(3);
    });

    it("goes on where a list of new tags cut short stopped, its place kept beside the watches", async () => {
      // Prepare: 450 tags HSS has synced and never scanned; the last 150 wait for a sync
      const { emulator, hss } = await start(unknowns, 300);
      const images = Array.from({ length: 450 }, (_, i) => image(i));
      const since = Date.now();
      emulator.push(...images);
      await syncRegistry(hss);
      let watches = images.slice(300).map((_, i) => watchOf(300 + i, { state: "syncing", since }));
      const check = checker(hss);
      const before = emulator.received.length;

      // Act: a check reads as many pages as its 150 images need (and one more), then stops
      const found = new Set<string>();
      for (let round = 0; round < 2; round++) {
        const [lookup, kept] = await check(watches);
        for (const [key, sighting] of lookup.sightings) {
          if (sighting.kind === "listed") found.add(key);
        }
        watches = kept.filter((watch) => !found.has(refKey(watch)));
      }

      // Assess: the second check went on from the first one's place (400), less the 100 found
      // there, which leave the list once scanned (these were not: read again, none skipped)
      expect(found.size).toBe(150);
      const fresh = emulator.received
        .slice(before)
        .filter((request) => request.query.scan_status === "unscan")
        .map((request) => Number(request.query.offset));
      expect(fresh).toEqual([0, 200, 300]);
    });

    it("goes on from its place without skipping what moved up as the images it found were scanned", async () => {
      // Prepare: 450 tags HSS has synced and never scanned, every one waiting for a sync
      const { emulator, hss, caller } = await start(unknowns, 100);
      const images = Array.from({ length: 450 }, (_, i) => image(i));
      const since = Date.now();
      emulator.push(...images);
      await syncRegistry(hss);
      let watches = images.map((_, i) => watchOf(i, { state: "syncing", since }));
      const check = checker(hss);

      // Act: two list calls a check; what a check finds is scanned (and so leaves the list)
      const found = new Set<string>();
      const unlisted = new Set<string>();
      for (let round = 0; round < 3; round++) {
        const [lookup, kept] = await check(watches, { maxCalls: 2 });
        const now: Watch[] = [];
        for (const watch of watches) {
          const sighting = lookup.sightings.get(refKey(watch));
          if (sighting?.kind === "listed") {
            found.add(refKey(watch));
            now.push(watch);
          }
          if (sighting?.kind === "unlisted") unlisted.add(refKey(watch));
        }
        if (now.length > 0) {
          await caller.call(
            {
              method: "POST",
              pathTemplate: "/v5/{project_id}/image/batch-scan",
              query: {},
              body: { image_type: "instance_image", image_info_list: now.map((w) => w.target) },
            },
            { timeoutMs: 5000 },
          );
        }
        watches = kept.filter((watch) => !found.has(refKey(watch)));
      }

      // Assess: every one found, none judged not listed
      expect(found.size).toBe(450);
      expect(unlisted.size).toBe(0);
    });

    it("looks up exactly, at most two a check, a tag scanned before whose request HSS dropped", async () => {
      // Prepare: five tags HSS scanned an hour ago, asked to be scanned again: nothing happened
      const { emulator, hss } = await start(unknowns, 0);
      const images = Array.from({ length: 5 }, (_, i) => image(i));
      emulator.push(...images.map((entry) => ({ ...entry, scanned: true })));
      const requested = Date.now() - 120_000;
      const check = checker(hss);
      const watches = images.map((_, i) => watchOf(i, { requested_at: requested, listed: true }));

      // Act
      const [first, kept] = await check(watches);
      const [second] = await check(kept);

      // Assess: two a check, the longest waiting first, each with HSS's record (an old scan)
      expect(kinds(first, watches)).toEqual({ listed: EXACT_PER_CHECK, running: 3 });
      expect(first.registries[0]).toMatchObject({ exact: EXACT_PER_CHECK });
      const looked = (lookup: WatchLookup) =>
        watches.filter((watch) => lookup.sightings.get(refKey(watch))?.kind === "listed");
      expect(looked(second)).toHaveLength(EXACT_PER_CHECK);
      expect(looked(second).filter((watch) => looked(first).includes(watch))).toEqual([]);
      for (const watch of looked(first)) {
        expect(first.sightings.get(refKey(watch))).toMatchObject({
          item: { scan_status: "success", latest_scan_time: expect.any(Number) },
        });
      }
    });

    it("takes registries in turn when the budget cannot pay for every one", async () => {
      const { hss } = await start(unknowns, 0);
      const other = (i: number) => {
        const watch = watchOf(i);
        return { ...watch, id: `o-${i}`, target: { ...watch.target, instance_id: "inst-other" } };
      };
      const watchedAt = Date.now() - 60_000;
      let watches = [watchOf(1), watchOf(2), other(1), other(2)].map((watch) => ({
        ...watch,
        watched_at: watchedAt,
      }));
      const order: string[][] = [];
      for (let round = 0; round < 3; round++) {
        // A window's budget for one registry's check (its two lists) each time.
        const [lookup, kept] = await checker(hss, new MemoryCallBudget(2))(watches);
        order.push(lookup.registries.filter((r) => r.calls > 0).map((r) => r.registry));
        watches = kept;
      }
      expect(order).toEqual([
        ["instance_image:inst-big"],
        ["instance_image:inst-other"],
        ["instance_image:inst-big"],
      ]);
    });

    it("with the list API's budget spent, calls nothing and says when a slot frees", async () => {
      const { hss } = await start(unknowns, 0);
      const budget = new MemoryCallBudget(1, 30_000);
      await budget.take("list-images");
      const [lookup] = await checker(hss, budget)([watchOf(1), watchOf(2)]);

      expect(lookup.calls).toBe(0);
      expect(lookup.sightings.size).toBe(0);
      expect(lookup.retryAfterMs).toBeGreaterThan(25_000);
    });
  },
);
