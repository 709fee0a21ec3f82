import { describe, expect, it } from "vitest";
import { SignedCallError } from "../../src/cloud/signed-client";
import type { HssApiClient, RegistryImage } from "../../src/hss/apis";
import { MemoryCallBudget } from "../../src/hss/call-budget";
import { InstanceUrls, instanceUrlStatus } from "../../src/instance-urls";
import { createLogger } from "../../src/log";
import { MemoryWatchStore } from "../../src/queue/memory-queue";
import { isRetiredAnswer } from "../../src/send-scan";

/** Forms of instance_url learned from HSS's records, kept, applied, and shown. */

const HOST = "swr-ee.example.com";
const NOW = 1_800_000_000_000;
const swr = { instancesByHost: { [HOST]: { id: "i-1" } } };
const target = (tag: string, instance = "i-1") => ({
  namespace: "team",
  image_name: "api",
  image_version: tag,
  instance_id: instance,
  instance_url: `${HOST}/team/api:${tag}`,
});

function setup(
  settings: { swr?: typeof swr & { defaultInstance?: { id: string; url?: string } } } = {},
) {
  const store = new MemoryWatchStore(() => NOW);
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) });
  const said = new Set<string>();
  const firstTime = (key: string) => !said.has(key) && !!said.add(key);
  const urls = () => new InstanceUrls(store, settings.swr ?? swr, log, firstTime, () => NOW);
  return { store, lines, urls, events: (name: string) => lines.filter((l) => l.event === name) };
}

describe("InstanceUrls", () => {
  it("learns a form that differs from what was sent, says so once, and sends it from then on", async () => {
    const { urls, events } = setup();
    const first = urls();

    await first.observe([{ target: target("1"), item: { instance_url: `https://${HOST}` } }]);
    await first.observe([{ target: target("2"), item: { instance_url: `https://${HOST}` } }]);

    expect(events("instance_url_learned")).toEqual([
      expect.objectContaining({
        instance_id: "i-1",
        hss_value: `https://${HOST}`,
        sent: `${HOST}/team/api:1`,
        form: `https://${HOST}`,
      }),
    ]);
    // Another invocation (or instance) on the same store: the form, without learning it again.
    const batch = await urls().name({
      image_type: "instance_image",
      image_info_list: [target("3")],
    });
    expect(batch).toEqual({
      image_type: "instance_image",
      image_info_list: [{ ...target("3"), instance_url: `https://${HOST}` }],
    });
    expect(events("instance_url_learned")).toHaveLength(1);
  });

  it("says HSS confirmed the guess when its record is what was sent", async () => {
    const { urls, events } = setup();
    await urls().observe([{ target: target("1"), item: { instance_url: `${HOST}/team/api:1` } }]);
    expect(events("instance_url_learned")).toEqual([]);
    expect(events("instance_url_confirmed")).toHaveLength(1);
  });

  it("never overrides a configured URL, and warns once when HSS's record disagrees", async () => {
    const configured = { instancesByHost: { [HOST]: { id: "i-1", url: `${HOST}/mine` } } };
    const { urls, events, store } = setup({ swr: configured });
    const mine = { ...target("1"), instance_url: `${HOST}/mine` };
    for (const tag of ["1", "2"]) {
      await urls().observe([{ target: mine, item: { instance_url: `https://${HOST}/${tag}` } }]);
    }
    const batch = await urls().name({ image_type: "instance_image", image_info_list: [mine] });

    expect("image_info_list" in batch && batch.image_info_list[0]?.instance_url).toBe(
      `${HOST}/mine`,
    );
    expect(events("instance_url_mismatch")).toHaveLength(1);
    expect(events("instance_url_learned")).toEqual([]);
    expect(await instanceUrlStatus(store, configured, ["i-1"])).toEqual([
      { instance_id: "i-1", source: "configured", form: `${HOST}/mine` },
    ]);
  });

  it("sends the guess, and fails nothing, while its store cannot be reached", async () => {
    const { lines } = setup();
    const down = {
      kept: async () => {
        throw new Error("queue unavailable");
      },
      keep: async () => {
        throw new Error("queue unavailable");
      },
    };
    const log = createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) });
    const urls = new InstanceUrls(
      down,
      swr,
      log,
      () => true,
      () => NOW,
    );

    const batch = await urls.name({ image_type: "instance_image", image_info_list: [target("1")] });
    await urls.observe([{ target: target("1"), item: { instance_url: `https://${HOST}` } }]);
    const after = await urls.name({ image_type: "instance_image", image_info_list: [target("2")] });

    expect("image_info_list" in batch && batch.image_info_list[0]?.instance_url).toBe(
      `${HOST}/team/api:1`,
    );
    // Learned all the same, for the rest of this invocation.
    expect("image_info_list" in after && after.image_info_list[0]?.instance_url).toBe(
      `https://${HOST}`,
    );
  });

  it("uses HSS's own value of an image over any form (a re-send)", async () => {
    const { urls } = setup();
    const batch = await urls().name(
      { image_type: "instance_image", image_info_list: [target("1")] },
      () => "https://hss-own.example.com",
    );
    expect("image_info_list" in batch && batch.image_info_list[0]?.instance_url).toBe(
      "https://hss-own.example.com",
    );
  });

  it("shows each instance's form and where it came from", async () => {
    const { urls, store } = setup();
    await urls().observe([{ target: target("1"), item: { instance_url: `https://${HOST}` } }]);
    expect(await instanceUrlStatus(store, swr, ["i-1", "i-2"])).toEqual([
      {
        instance_id: "i-1",
        source: "learned",
        form: `https://${HOST}`,
        learned_at: new Date(NOW).toISOString(),
        hss_value: `https://${HOST}`,
      },
      { instance_id: "i-2", source: "guessed", form: "{host}/{namespace}/{image}:{tag}" },
    ]);
  });

  it("asks HSS for one listed image per instance, within the list API's budget", async () => {
    const { urls, events } = setup();
    const asked: unknown[] = [];
    const items: Record<string, RegistryImage[]> = {
      "i-1": [
        { namespace: "ops", image_name: "db", image_version: "9", instance_url: `https://${HOST}` },
      ],
      "i-2": [],
    };
    const hss = {
      listRegistryImages: async (query: { instance_id?: string }) => {
        asked.push(query);
        if (query.instance_id === "i-3") throw new SignedCallError("denied", 400, "HSS.0013", "r1");
        return { data_list: items[query.instance_id ?? ""] ?? [], received: 0, skipped: [] };
      },
    } as unknown as HssApiClient;
    const budget = new MemoryCallBudget(3, 60_000, () => NOW);

    const outcomes = await urls().learnFromHss(["i-1", "i-2", "i-3", "i-4"], { hss, budget });

    expect(outcomes.map(({ instance_id, outcome }) => [instance_id, outcome])).toEqual([
      ["i-1", "learned"],
      ["i-2", "no_images"],
      ["i-3", "failed"],
      ["i-4", "budget"],
    ]);
    expect(asked[0]).toEqual({ image_type: "instance_image", instance_id: "i-1", limit: 1 });
    expect(events("instance_url_learned")[0]).toMatchObject({
      sent: `${HOST}/ops/db:9`,
      form: `https://${HOST}`,
    });
  });
});

describe("isRetiredAnswer", () => {
  it.each([
    [404, "APIGW.0101", true],
    [410, "HTTP_410", true],
    [404, "HSS.0404", false],
    [400, "APIGW.0101", false],
    [401, "APIGW.0301", false],
  ])("HTTP %i %s: %s", (status, code, retired) => {
    expect(isRetiredAnswer(new SignedCallError("x", status, code, undefined))).toBe(retired);
  });
});
