import { describe, expect, it } from "vitest";
import type { Config } from "../../src/config";
import type { PushedImage } from "../../src/formats/registry-event";
import {
  planManualScans,
  planPushScans,
  registryHostOf,
  splitIntoBatches,
} from "../../src/scan-plan";

const noInstances: Config["swr"] = { defaultInstance: undefined, instancesByHost: {} };
const sources = (queryInstanceId?: string, swr: Config["swr"] = noInstances) => ({
  queryInstanceId,
  swr,
});
const pushed = (overrides: Partial<PushedImage> = {}): PushedImage => ({
  namespace: "team",
  repository: "team/backend/api",
  tag: "1.4.2",
  resourceUrl: "registry.example.com/team/backend/api:1.4.2",
  ...overrides,
});
const DIGEST = "sha256:3f1e0c9a4b7d2e5f8a1c6b9d0e3f7a2b5c8d1e4f7a0b3c6d9e2f5a8b1c4d7e0f";

describe("planPushScans", () => {
  it("maps a nested repository to namespace, the rest of the name, and the tag", () => {
    const plan = planPushScans([pushed()], sources("inst-1"));
    expect(plan).toEqual({
      imageType: "instance_image",
      targets: [
        {
          namespace: "team",
          image_name: "backend/api",
          image_version: "1.4.2",
          instance_id: "inst-1",
          instance_url: "registry.example.com/team/backend/api:1.4.2",
        },
      ],
      skipped: [],
    });
  });

  it("skips a digest-only resource with a reason", () => {
    const plan = planPushScans(
      [pushed({ tag: DIGEST, resourceUrl: `registry.example.com/team/backend/api@${DIGEST}` })],
      sources("inst-1"),
    );
    expect(plan.targets).toEqual([]);
    expect(plan.skipped).toEqual([
      {
        image: `registry.example.com/team/backend/api@${DIGEST}`,
        rule: "digest",
        reason: expect.stringMatching(/pushed by digest .*HSS scans images by tag/),
      },
    ]);
  });

  it.each([
    ["a newline", "v1\nsha256:abc"],
    ["a stray colon", "v1:2"],
    ["a space", "v1 latest"],
  ])("skips a tag with %s as an invalid reference, not as a digest", (_, tag) => {
    const plan = planPushScans([pushed({ tag })], sources("inst-1"));
    expect(plan.targets).toEqual([]);
    expect(plan.skipped).toEqual([
      expect.objectContaining({
        rule: "invalid-reference",
        reason: expect.stringMatching(/is not a valid tag/),
      }),
    ]);
  });

  it("skips a resource without a tag with a reason", () => {
    const plan = planPushScans(
      [pushed({ tag: undefined, resourceUrl: undefined, digest: DIGEST })],
      sources("i"),
    );
    expect(plan.skipped).toEqual([
      {
        image: `team/backend/api@${DIGEST}`,
        rule: "no-tag",
        reason: expect.stringMatching(/no tag/),
      },
    ]);
  });

  it("sends the same image once and reports the duplicate", () => {
    const plan = planPushScans([pushed(), pushed(), pushed({ tag: "1.4.3" })], sources("inst-1"));
    expect(plan.targets.map((target) => target.image_version)).toEqual(["1.4.2", "1.4.3"]);
    expect(plan.skipped).toEqual([
      {
        image: "registry.example.com/team/backend/api:1.4.2",
        rule: "duplicate",
        reason: expect.stringMatching(/duplicate/),
      },
    ]);
  });

  it("skips an image whose name is longer than a registry allows", () => {
    const long = `team/${"x".repeat(300)}`;
    const plan = planPushScans(
      [pushed({ repository: long, resourceUrl: undefined })],
      sources("i"),
    );
    expect(plan.targets).toEqual([]);
    expect(plan.skipped[0]).toMatchObject({
      rule: "invalid-reference",
      reason: expect.stringMatching(/repository name has 305 characters/),
    });
  });

  it.each([
    ["a tag with a newline", { tag: "1.0\nx" }, /tag "1.0\\nx" is not a valid tag/],
    ["a tag with a NUL", { tag: "a\u0000" }, /is not a valid tag/],
    ["a tag with a space", { tag: "a b" }, /is not a valid tag/],
    ["a tag that is ..", { tag: ".." }, /is not a valid tag/],
    ["a tag with %2F", { tag: "a%2Fb" }, /is not a valid tag/],
    ["a repository with U+FFFD", { repository: "team/ap\ufffd" }, /invalid path component/],
    ["a repository with ..", { repository: "team/../etc" }, /invalid path component/],
    [
      "a repository outside its namespace",
      { repository: "other/api" },
      /is not inside namespace "team"/,
    ],
  ])("skips %s as not a registry reference", (_, overrides, reason) => {
    const plan = planPushScans([pushed(overrides)], sources("i"));
    expect(plan.targets).toEqual([]);
    expect(plan.skipped[0]).toMatchObject({
      rule: "invalid-reference",
      reason: expect.stringMatching(reason),
    });
  });

  it("carries the pushed digest of each target", () => {
    const plan = planPushScans([pushed({ digest: DIGEST })], sources("inst-1"));
    expect([...(plan.digests?.values() ?? [])]).toEqual([DIGEST]);
  });

  it("falls back to the registry host when the pull reference is too long for instance_url, and says so", () => {
    const repository = `team/${"a".repeat(120)}/${"b".repeat(120)}`;
    const plan = planPushScans(
      [pushed({ repository, resourceUrl: `registry.example.com/${repository}:1.4.2` })],
      sources("i"),
    );
    expect(plan.targets[0]).toMatchObject({ instance_url: "registry.example.com" });
    expect(plan.adjusted).toEqual([
      {
        image: expect.stringContaining("registry.example.com/team/"),
        field: "instance_url",
        reason: expect.stringMatching(
          /has 273 characters and HSS takes at most 256; sent the registry host registry.example.com instead/,
        ),
      },
    ]);
  });

  describe("SWR Enterprise instance", () => {
    const configured: Config["swr"] = {
      defaultInstance: { id: "default-inst", url: undefined },
      instancesByHost: {
        "registry.example.com": { id: "mapped-inst", url: "registry.example.com" },
      },
    };

    it("prefers the webhook URL's instance_id", () => {
      const plan = planPushScans(
        [pushed({ resourceUrl: "other.example.com/team/backend/api:1.4.2" })],
        sources("query-inst", configured),
      );
      expect(plan.targets[0]).toMatchObject({
        instance_id: "query-inst",
        instance_url: "other.example.com/team/backend/api:1.4.2",
      });
    });

    it("leaves out an instance_url on a registry that SWR_INSTANCES gives to another instance", () => {
      const plan = planPushScans([pushed()], sources("query-inst", configured));
      expect(plan.targets[0]).toEqual({
        namespace: "team",
        image_name: "backend/api",
        image_version: "1.4.2",
        instance_id: "query-inst",
      });
      expect(plan.adjusted?.[0]?.reason).toMatch(
        /on registry.example.com, which SWR_INSTANCES gives to instance mapped-inst, not to query-inst; instance_url left out/,
      );
    });

    it("uses the registry-host map, with its URL, before the default", () => {
      const plan = planPushScans([pushed()], sources(undefined, configured));
      expect(plan.targets[0]).toMatchObject({
        instance_id: "mapped-inst",
        instance_url: "registry.example.com",
      });
    });

    it("falls back to the default instance for other hosts", () => {
      const plan = planPushScans(
        [pushed({ resourceUrl: "other.example.com/team/backend/api:1.4.2" })],
        sources(undefined, configured),
      );
      expect(plan.targets[0]).toMatchObject({ instance_id: "default-inst" });
    });

    it("lists images whose registry maps to no instance, and plans the others", () => {
      const plan = planPushScans(
        [pushed(), pushed({ tag: "2", resourceUrl: "other.example.com/team/backend/api:2" })],
        sources(undefined, {
          defaultInstance: undefined,
          instancesByHost: { "registry.example.com": { id: "mapped-inst", url: undefined } },
        }),
      );
      expect(plan.targets.map((target) => target.image_version)).toEqual(["1.4.2"]);
      expect(plan.unmapped).toEqual([
        { image: "other.example.com/team/backend/api:2", registry: "other.example.com" },
      ]);
    });
  });

  it("reads the registry host of a pull reference", () => {
    expect(registryHostOf("Registry.Example.com:5000/a/b:1")).toBe("registry.example.com:5000");
    expect(registryHostOf("localhost/a:1")).toBe("localhost");
    expect(registryHostOf("team/api:1")).toBeUndefined();
    expect(registryHostOf(undefined)).toBeUndefined();
  });
});

describe("planManualScans", () => {
  it("keeps valid entries and skips invalid ones with the field that is wrong", () => {
    const plan = planManualScans(
      {
        image_type: "private_image",
        image_info_list: [
          { namespace: "test", image_name: "openjdk", image_version: "v8.8" },
          { namespace: "test", image_name: "openjdk", image_version: "" },
          "not an image",
          { namespace: "test", image_name: "openjdk", image_version: "v8.8" },
        ],
      },
      noInstances,
    );
    expect(plan.targets).toEqual([
      { namespace: "test", image_name: "openjdk", image_version: "v8.8" },
    ]);
    expect(plan.skipped.map((skip) => skip.reason)).toEqual([
      expect.stringMatching(/^image_version is not acceptable/),
      expect.stringMatching(/namespace is not acceptable/),
      expect.stringMatching(/duplicate/),
    ]);
  });

  it("fills instance_image entries from SWR_INSTANCE_ID, and skips them without one", () => {
    const request = {
      image_type: "instance_image" as const,
      image_info_list: [{ namespace: "n", image_name: "i", image_version: "1" }],
    };
    expect(planManualScans(request, noInstances).skipped[0]?.reason).toMatch(/need an instance_id/);
    const withDefault = planManualScans(request, {
      ...noInstances,
      defaultInstance: { id: "d", url: undefined },
    });
    expect(withDefault.targets[0]).toMatchObject({ instance_id: "d" });
  });

  it("passes operate_all filters through", () => {
    const plan = planManualScans(
      { image_type: "shared_image", operate_all: true, namespace: "team", latest_version: true },
      noInstances,
    );
    expect(splitIntoBatches(plan, 100)).toEqual([
      { image_type: "shared_image", operate_all: true, namespace: "team", latest_version: true },
    ]);
  });
});

describe("splitIntoBatches", () => {
  it("splits a long list into requests of at most the batch size, keeping every image", () => {
    const image_info_list = Array.from({ length: 2500 }, (_, i) => ({
      namespace: "ns",
      image_name: `image-${i}`,
      image_version: "1",
    }));
    const plan = planManualScans({ image_type: "private_image", image_info_list }, noInstances);
    const batches = splitIntoBatches(plan, 1024);
    expect(
      batches.map((batch) => ("image_info_list" in batch ? batch.image_info_list.length : 0)),
    ).toEqual([1024, 1024, 452]);
    expect(
      batches.flatMap((batch) => ("image_info_list" in batch ? batch.image_info_list : [])),
    ).toEqual(image_info_list);
  });

  it("sends nothing for an empty plan", () => {
    expect(splitIntoBatches({ imageType: "private_image", targets: [], skipped: [] }, 100)).toEqual(
      [],
    );
  });
});
