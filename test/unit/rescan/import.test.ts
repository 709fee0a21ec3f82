import { describe, expect, it } from "vitest";
import type { HssApiClient, ListRegistryImagesQuery, RegistryImage } from "../../../src/hss/apis";
import { MemoryCallBudget } from "../../../src/hss/call-budget";
import { createLogger } from "../../../src/log";
import { MemoryScanQueue } from "../../../src/queue/memory-queue";
import { importFromHss } from "../../../src/rescan/import";
import { type RescanSettings, rememberForRescan } from "../../../src/rescan/rescan-set";
import { SubmittedImages } from "../../../src/submitted-images";

/** RESCAN_FROM_HSS: what HSS lists joins the rescan set, a page a pass, from where it stopped. */

const DAY = 86_400_000;
const NOW = Date.parse("2026-12-03T08:00:00Z");
const settings: RescanSettings = {
  everyMs: 7 * DAY,
  tags: ["v*"],
  newest: 0,
  reportFixed: false,
  fromHss: true,
  withinMs: 30 * DAY,
  maxPerDay: 500,
};

function listed(count: number, from = 0): RegistryImage[] {
  return Array.from({ length: count }, (_, i) => ({
    namespace: "team",
    image_name: "api",
    image_version: `v${from + i}`,
    image_digest: `sha256:${from + i}`,
    latest_update_time: NOW - DAY + from + i,
  }));
}

describe("importFromHss", () => {
  it("adds what HSS lists and the set lacks, a page a type a pass, resuming where it stopped", async () => {
    const clock = () => NOW;
    const queue = new MemoryScanQueue(
      { budget: new MemoryCallBudget(100, 60_000, clock), submitted: new SubmittedImages(1, 1) },
      clock,
    );
    const queries: ListRegistryImagesQuery[] = [];
    const pages: Record<string, RegistryImage[][]> = {
      private_image: [
        [...listed(199), { ...listed(1, 500)[0], image_version: "dev-1" } as RegistryImage],
        listed(3, 199),
      ],
      instance_image: [[]],
    };
    const hss = {
      listRegistryImages: async (query: ListRegistryImagesQuery) => {
        queries.push(query);
        const items = pages[query.image_type ?? ""]?.shift() ?? [];
        return { data_list: items, received: items.length, skipped: [] };
      },
    } as unknown as HssApiClient;
    const log = createLogger({ level: "error", write: () => undefined });
    // One of them the function saw pushed: left as it is.
    await rememberForRescan(
      [
        {
          id: "p",
          image_type: "private_image",
          target: { namespace: "team", image_name: "api", image_version: "v0" },
        },
      ],
      settings,
      queue,
      NOW,
    );

    const first = await importFromHss({ queue, hss: async () => hss, settings, log, now: clock });
    const second = await importFromHss({ queue, hss: async () => hss, settings, log, now: clock });

    expect(first).toBe(198);
    expect(second).toBe(3);
    expect(await queue.rescans.count()).toBe(202);
    expect(queries[0]).toMatchObject({
      image_type: "private_image",
      start_latest_update_time: NOW - 30 * DAY,
      offset: 0,
      limit: 200,
    });
    expect(queries[2]).toMatchObject({ image_type: "private_image", offset: 200 });
    // Spread over the period, not all due at once.
    const dueNow = await queue.rescans.peekDue(1000);
    expect(dueNow.length).toBeLessThan(20);
  });
});
