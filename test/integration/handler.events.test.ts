import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  EVENT_ENV,
  EVENT_EXPECTATIONS as EXPECTED,
  type EventExpectation as Expectation,
} from "../support/event-expectations";
import { apigEvent, eventFiles, loadEvent } from "../support/fixtures";
import { type Harness, startHarness } from "../support/harness";

describe("every sample in events/", () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness(EVENT_ENV);
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
    expect(harness.emulator.received.filter((request) => !request.signature.valid)).toEqual([]);
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

describe("CloudEvents batches over HTTP", () => {
  it("combine the pushes of a batch-mode array into one HSS request", async () => {
    // Prepare: batch mode sends the events as a bare JSON array
    const harness = await startHarness(EVENT_ENV);
    const { events } = loadEvent<{ events: unknown[] }>("eventgrid-batch.json");
    const event = apigEvent(events, {
      headers: { "content-type": "application/cloudevents-batch+json" },
    });

    try {
      // Act
      const answer = await harness.http(event);

      // Assess
      expect(answer.statusCode).toBe(202);
      expect(harness.emulator.acceptedBatches()).toEqual(EXPECTED["eventgrid-batch.json"]?.batches);
      expect(harness.logEvents()).toContainEqual(
        expect.objectContaining({ event: "ignored", event_type: "harbor.artifact.pulled" }),
      );
    } finally {
      await harness.close();
    }
  });
});
