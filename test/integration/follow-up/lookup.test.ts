import { afterEach, describe, expect, it } from "vitest";
import {
  type HssEmulator,
  type HssEmulatorOptions,
  startHssEmulator,
} from "../../../src/emulator/hss-emulator";
import { callsAllowed, type ImageRef, lookUp, refKey } from "../../../src/follow-up/lookup";
import { hssApiClient } from "../../../src/hss/apis";
import { MemoryCallBudget } from "../../../src/hss/call-budget";
import { SCAN_APIS } from "../../../src/scan-apis";
import { standInCaller } from "../../support/callers";

/**
 * The lookup's cost grows with the images looked for, not with their namespaces: at most
 * ⌈images / 200⌉ + 1 list calls per registry, against an emulator answering as thinly as HSS's
 * models allow.
 */

let emulator: HssEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

async function start(options: HssEmulatorOptions = {}) {
  emulator = await startHssEmulator({ rateLimit: false, sparseAnswers: true, ...options });
  const caller = standInCaller(emulator);
  return { emulator, caller, hss: hssApiClient({ caller, timeoutMs: 5000 }) };
}

/** `count` images of an instance, two per namespace. */
function images(count: number, instance = "inst-1", prefix = "ns") {
  return Array.from({ length: count }, (_, i) => ({
    image_type: "instance_image" as const,
    namespace: `${prefix}-${Math.floor(i / 2)}`,
    image_name: "app",
    image_version: `v${i}`,
    instance_id: instance,
    host: `${instance}.swr.example.com`,
  }));
}

const refOf = (image: ReturnType<typeof images>[number]): ImageRef => ({
  image_type: image.image_type,
  target: {
    namespace: image.namespace,
    image_name: image.image_name,
    image_version: image.image_version,
    instance_id: image.instance_id,
  },
});

const options = (hss: ReturnType<typeof hssApiClient>) => ({
  hss,
  budget: new MemoryCallBudget(1000),
  deadline: Date.now() + 10_000,
});

describe("looking images up by registry", () => {
  it("finds 300 images in 150 namespaces of one instance in 2 list calls, reading every page by what it held", async () => {
    const { emulator, hss } = await start();
    const pushed = images(300);
    emulator.push(...pushed.map((image) => ({ ...image, synced: true })));

    const result = await lookUp(pushed.map(refOf), options(hss));

    expect([...result.found.values()].filter(Boolean)).toHaveLength(300);
    expect(result.registries).toEqual([
      { registry: "instance_image:inst-1", images: 300, calls: 2 },
    ]);
    // 300 images and 15 items that say nothing of what they are: the second page starts at 200.
    expect(emulator.received.map((request) => request.query.offset)).toEqual(["0", "200"]);
    expect(emulator.received[0]?.query).toMatchObject({
      instance_id: "inst-1",
      sort_key: "latest_scan_time",
      sort_dir: "desc",
      limit: "200",
    });
    expect(emulator.received[0]?.query).not.toHaveProperty("namespace");
  });

  it("spends at most ⌈images / 200⌉ + 1 calls on each of two instances", async () => {
    const { emulator, hss } = await start();
    const first = images(300, "inst-1");
    const second = images(300, "inst-2");
    emulator.push(...[...first, ...second].map((image) => ({ ...image, synced: true })));

    const result = await lookUp([...first, ...second].map(refOf), options(hss));

    expect([...result.found.values()].filter(Boolean)).toHaveLength(600);
    for (const registry of result.registries) {
      expect(registry.calls).toBeLessThanOrEqual(callsAllowed(registry.images));
    }
    expect(result.calls).toBe(4);
  });

  it("judges 60 images HSS has not synced unlisted with one call", async () => {
    const { emulator, hss } = await start();
    const pushed = images(60);
    emulator.push(...pushed);

    const result = await lookUp(pushed.map(refOf), options(hss));

    expect(result.calls).toBe(1);
    expect([...result.found.values()]).toEqual(Array(60).fill(null));
  });

  it("looks a lone image up by its exact name", async () => {
    const { emulator, hss } = await start();
    const [lone, other] = images(2);
    if (!lone || !other) throw new Error("two images");
    emulator.push({ ...lone, synced: true }, { ...other, synced: true });

    const listed = await lookUp([refOf(lone)], options(hss));
    const unlisted = await lookUp(
      [{ ...refOf(lone), target: { ...refOf(lone).target, image_version: "v9" } }],
      options(hss),
    );

    expect(emulator.received.map((request) => request.query.image_version)).toEqual(["v0", "v9"]);
    expect([...listed.found.values()]).toEqual([expect.objectContaining({ image_version: "v0" })]);
    expect([...unlisted.found.values()]).toEqual([null]);
  });

  it("in a registry larger than its calls can page through: the newest scans first, then exact lookups", async () => {
    const { emulator, hss, caller } = await start({
      timings: { syncMs: 10, scanStartMs: 5, scanMs: 20 },
    });
    const registry = images(1000);
    emulator.push(...registry.map((image) => ({ ...image, synced: true })));
    const scanned = registry.slice(500, 505);
    await caller.call(
      SCAN_APIS["batch-scan"].request(
        {
          image_type: "instance_image",
          image_info_list: scanned.map((image) => refOf(image).target),
        },
        { scope: 0, rateLimit: 0 },
      ),
      { timeoutMs: 2000 },
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Never scanned: listed after every scanned image, far beyond the first page.
    const older = [registry[900], registry[950]].map((image) => refOf(image as never));

    const result = await lookUp([...scanned.map(refOf), ...older], options(hss));

    // 7 images: 2 calls. The first page (newest scans) holds the 5 just scanned; the 6th is
    // looked up exactly; the 7th waits for the next lookup.
    expect(result.calls).toBe(2);
    expect(result.found.size).toBe(6);
    expect(result.found.get(refKey(older[0] as ImageRef))).toMatchObject({ image_version: "v900" });
    expect(result.found.has(refKey(older[1] as ImageRef))).toBe(false);
  });

  it("counts an image waiting for a sync as listed only with a sync ended since", async () => {
    const { emulator, hss } = await start();
    const pushed = images(4);
    emulator.push(...pushed.map((image) => ({ ...image, synced: true })));

    const before = await lookUp(
      pushed.map((image) => ({ ...refOf(image), syncedSince: Date.now() - 60_000 })),
      options(hss),
    );
    const after = await lookUp(
      pushed.map((image) => ({ ...refOf(image), syncedSince: Date.now() + 60_000 })),
      options(hss),
    );

    expect([...before.found.values()].filter(Boolean)).toHaveLength(4);
    expect([...after.found.values()]).toEqual(Array(4).fill(null));
    expect(emulator.received[0]?.query.start_latest_sync_time).toEqual(expect.any(String));
  });
});
