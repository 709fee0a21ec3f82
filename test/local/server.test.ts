import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalServer } from "../../src/local/server";
import { harborSample, SAMPLE_WEBHOOK_SECRET } from "../support/fixtures";
import { type Harness, startHarness } from "../support/harness";

describe("local HTTP endpoint", () => {
  let harness: Harness;
  let url: string;
  let close: () => void;
  beforeAll(async () => {
    harness = await startHarness();
    const { server, url: address } = await startLocalServer({
      port: 0,
      handler: (event, context) => harness.invoke(event, context as object),
    });
    url = address;
    close = () => server.close();
  });
  afterAll(async () => {
    close();
    await harness.close();
  });

  it("turns a webhook POST into an APIG event and answers with the handler's response", async () => {
    // Act
    const response = await fetch(`${url}/?instance_id=inst-42`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: SAMPLE_WEBHOOK_SECRET },
      body: JSON.stringify(harborSample()),
    });

    // Assess
    expect(response.status).toBe(202);
    expect(await response.json()).toMatchObject({
      status: "submitted",
      submitted: [
        {
          namespace: "test-webhook",
          image_name: "debian",
          image_version: "latest",
          instance_id: "inst-42",
        },
      ],
    });
    expect(harness.emulator.acceptedBatches()).toHaveLength(1);
  });

  it("answers 400 for a body that is not JSON", async () => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: SAMPLE_WEBHOOK_SECRET },
      body: "hello",
    });
    expect(response.status).toBe(400);
  });
});
