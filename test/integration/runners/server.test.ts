import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFlushSchedule, startLocalServer } from "../../../src/runners/server";
import { harborSample, SAMPLE_WEBHOOK_SECRET } from "../../support/fixtures";
import { type Harness, startHarness } from "../../support/harness";

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

  it("survives a client that goes away in the middle of its body", async () => {
    // Act: promise 100 bytes, send one, hang up
    const { port } = new URL(url);
    await new Promise<void>((resolve) => {
      const socket = connect(Number(port), "127.0.0.1", () => {
        socket.write(
          "POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{",
        );
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 50);
      });
    });
    await new Promise((resolve) => setTimeout(resolve, 50));

    // Assess: the server still answers
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: SAMPLE_WEBHOOK_SECRET },
      body: "hello",
    });
    expect(response.status).toBe(400);
  });
});

describe("the local endpoint and the emulator under broken clients", () => {
  it("both survive a malformed chunked body and go on answering", async () => {
    const harness = await startHarness();
    const { server, url } = await startLocalServer({
      port: 0,
      handler: (event, context) => harness.invoke(event, context as object),
    });
    try {
      for (const target of [url, harness.emulator.url]) {
        const { port } = new URL(target);
        await new Promise<void>((resolve) => {
          const socket = connect(Number(port), "127.0.0.1", () => {
            socket.write(
              "POST /v5/x/image/batch-scan HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nZZZ\r\n{\r\n",
            );
          });
          socket.on("close", () => resolve());
          socket.on("error", () => resolve());
          setTimeout(() => socket.destroy(), 200);
        });
      }
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: SAMPLE_WEBHOOK_SECRET },
        body: "hello",
      });
      expect(response.status).toBe(400);
      const emulatorAnswer = await fetch(`${harness.emulator.url}/nothing`, { method: "POST" });
      expect(emulatorAnswer.status).toBe(404);
    } finally {
      server.close();
      await harness.close();
    }
  });
});

describe("the local flush schedule", () => {
  it("sends the handler a TIMER event every interval until stopped", async () => {
    const events: unknown[] = [];
    const stop = startFlushSchedule({
      handler: async (event) => {
        events.push(event);
        return { status: "flushed", queue: { pending: 0 } };
      },
      intervalMs: 100,
    });
    await new Promise((resolve) => setTimeout(resolve, 370));
    stop();
    const seen = events.length;
    await new Promise((resolve) => setTimeout(resolve, 250));

    expect(seen).toBeGreaterThanOrEqual(2);
    expect(events).toHaveLength(seen);
    expect(events[0]).toMatchObject({ trigger_type: "TIMER", trigger_name: "local-flush" });
  });

  it("comes back sooner when the budget frees a call before the next interval", async () => {
    const times: number[] = [];
    const started = Date.now();
    const stop = startFlushSchedule({
      handler: async () => {
        times.push(Date.now() - started);
        return { status: "flushed", flush: { retry_after_ms: 100 }, queue: { pending: 3 } };
      },
      intervalMs: 300,
    });
    await new Promise((resolve) => setTimeout(resolve, 800));
    stop();
    // First after 300 ms, then every ~200 ms (retry after + margin, at least 200 ms).
    expect(times.length).toBeGreaterThanOrEqual(3);
  });
});
