import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ScanBatch } from "../src/hss/batch-scan-request";
import { eventFiles, loadEvent } from "./support/fixtures";
import { type Harness, startHarness } from "./support/harness";

interface Expectation {
  /** HTTP status, or "direct" when the handler returns the report itself. */
  answer: number | "direct";
  /** What HSS must have received, request by request. */
  batches: ScanBatch[];
  skipped: number;
}

const EXPECTED: Record<string, Expectation> = {
  "apig-cloudevents-push.json": {
    answer: 202,
    skipped: 0,
    batches: [
      {
        image_type: "instance_image",
        image_info_list: [
          {
            namespace: "payments",
            image_name: "gateway",
            image_version: "v2.1.0",
            instance_id: "2e9a7c41-0b3d-4f6e-8a5c-9d1b3e5f7a20",
            instance_url: "registry.example.com/payments/gateway:v2.1.0",
          },
        ],
      },
    ],
  },
  "apig-ignored-pull.json": { answer: 200, skipped: 0, batches: [] },
  "apig-swr-ee-push.json": {
    answer: 202,
    skipped: 1,
    batches: [
      {
        image_type: "instance_image",
        image_info_list: [
          {
            namespace: "team",
            image_name: "backend/api",
            image_version: "1.4.2",
            instance_id: "6b7cc0f2-35b4-4f2e-9d1e-8a4d3c2b1a00",
            instance_url: "swr-ee-prod.cn-north-4.myhuaweicloud.com/team/backend/api:1.4.2",
          },
        ],
      },
    ],
  },
  "direct-image-list.json": {
    answer: "direct",
    skipped: 0,
    batches: [
      {
        image_type: "private_image",
        image_info_list: [
          { image_name: "openjdk", image_version: "v8.8", namespace: "test" },
          { image_name: "openjdk1", image_version: "v1.0", namespace: "test1" },
        ],
      },
    ],
  },
  "direct-operate-all.json": {
    answer: "direct",
    skipped: 0,
    batches: [{ image_type: "private_image", operate_all: true }],
  },
  "harbor-push.json": {
    answer: "direct",
    skipped: 0,
    batches: [
      {
        image_type: "instance_image",
        image_info_list: [
          {
            namespace: "test-webhook",
            image_name: "debian",
            image_version: "latest",
            instance_id: "configured-instance",
            instance_url: "hub.harbor.com/test-webhook/debian:latest",
          },
        ],
      },
    ],
  },
  "http-api-v2-push.json": {
    answer: 202,
    skipped: 1,
    batches: [
      {
        image_type: "instance_image",
        image_info_list: [
          {
            namespace: "platform",
            image_name: "tools/kubectl",
            image_version: "2026.11",
            instance_id: "9f8e7d6c-5b4a-4321-8fed-cba987654321",
            instance_url: "registry.example.com/platform/tools/kubectl:2026.11",
          },
        ],
      },
    ],
  },
};

describe("every sample in events/", () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness({ SWR_INSTANCE_ID: "configured-instance" });
  });
  afterAll(() => harness.close());
  beforeEach(() => harness.emulator.reset());

  it("has an expectation here", () => {
    expect(eventFiles()).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(eventFiles())("%s produces exactly the expected signed HSS requests", async (file) => {
    // Prepare
    const expected = EXPECTED[file] as Expectation;

    // Act
    const result = (await harness.invoke(loadEvent(file))) as Record<string, unknown>;

    // Assess
    const report =
      expected.answer === "direct"
        ? result
        : (JSON.parse(result.body as string) as Record<string, unknown>);
    if (expected.answer !== "direct") expect(result.statusCode).toBe(expected.answer);
    expect(report.skipped).toHaveLength(expected.skipped);
    expect(harness.emulator.acceptedBatches()).toEqual(expected.batches);
    expect(harness.emulator.received.every((request) => request.signature.valid)).toBe(true);
  });
});

describe("a large manual list", () => {
  it("is split into requests of HSS_BATCH_SIZE that together carry every image once", async () => {
    // Prepare
    const harness = await startHarness({ HSS_BATCH_SIZE: "250" });
    const image_info_list = Array.from({ length: 1100 }, (_, i) => ({
      namespace: `ns${i % 7}`,
      image_name: `app/service-${i}`,
      image_version: `v${i}`,
    }));

    try {
      // Act
      const report = (await harness.invoke({ image_type: "private_image", image_info_list })) as {
        submitted: unknown[];
      };

      // Assess
      const batches = harness.emulator.acceptedBatches();
      expect(
        batches.map((batch) => ("image_info_list" in batch ? batch.image_info_list.length : 0)),
      ).toEqual([250, 250, 250, 250, 100]);
      const sent = batches.flatMap((batch) =>
        "image_info_list" in batch ? batch.image_info_list : [],
      );
      expect(new Set(sent.map((image) => image.image_name)).size).toBe(1100);
      expect(report.submitted).toHaveLength(1100);
    } finally {
      await harness.close();
    }
  });
});
