import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { EmulatorFault } from "../../src/emulator/hss-emulator";
import { tagsPush } from "../support/fixtures";
import { acceptedTags, type Harness, startHarness } from "../support/harness";

const push = (...tags: string[]) =>
  tagsPush(tags, { repository: "team/backend/api", digest: () => undefined });

/**
 * The emulator fails in each way HSS and the network fail; every image must then either reach
 * HSS exactly once or be reported failed with a non-2xx answer.
 */
describe("HSS failures", () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness({
      HSS_TIMEOUT_MS: "200",
      HSS_RETRY_ATTEMPTS: "3",
      HSS_RETRY_BASE_MS: "10",
      HSS_BATCH_SIZE: "1",
      HSS_CONCURRENCY: "1",
      DEDUPE_WINDOW_SECONDS: "0",
    });
  });
  afterAll(() => harness.close());
  beforeEach(() => {
    harness.emulator.reset();
    harness.logs.length = 0;
  });

  const transient: Array<[string, EmulatorFault, Record<string, unknown>]> = [
    [
      "500",
      { kind: "http", status: 500, errorCode: "HSS.1000", errorMsg: "internal" },
      { http_status: 500 },
    ],
    [
      "503",
      { kind: "http", status: 503, errorCode: "APIGW.0201", errorMsg: "unavailable" },
      { http_status: 503 },
    ],
    ["a connection reset", { kind: "reset" }, { error_code: "CONNECTION_ERROR" }],
    ["a hang past the timeout", { kind: "hang" }, { error_code: "TIMEOUT" }],
  ];

  it.each(transient)(
    "retries after %s and submits the image once",
    async (_, fault, retriedWith) => {
      // Prepare
      harness.emulator.failNext(fault);

      // Act
      const answer = await harness.http(push("1.0"));

      // Assess
      expect(answer.statusCode).toBe(202);
      expect(acceptedTags(harness.emulator)).toEqual(["1.0"]);
      expect(harness.emulator.received).toHaveLength(2);
      expect(harness.logged("retried")).toEqual([
        expect.objectContaining({ attempt: 1, ...retriedWith }),
      ]);
      expect(harness.logged("submitted")).toEqual([expect.objectContaining({ attempt: 2 })]);
      expect(answer.body.submitted[0]?.hss_request_id).toBe(
        harness.emulator.received[1]?.requestId,
      );
    },
  );

  it("does not retry a permanent 400 and reports the image failed with HSS's code", async () => {
    harness.emulator.failNext({
      kind: "http",
      status: 400,
      errorCode: "HSS.0001",
      errorMsg: "invalid parameter",
    });

    const answer = await harness.http(push("1.0"));

    expect(answer.statusCode).toBe(502);
    // One scan request, not retried; and, the instance's instance_url form being a guess so far,
    // one listed image of the instance read to see whether HSS records it otherwise (it lists none).
    expect(harness.emulator.received.map((request) => `${request.method} ${request.path}`)).toEqual(
      [
        expect.stringMatching(/^POST .*\/image\/batch-scan$/),
        expect.stringMatching(/^GET .*\/image\/registries\/images$/),
      ],
    );
    expect(harness.emulator.received[1]?.query).toMatchObject({
      image_type: "instance_image",
      limit: "1",
    });
    expect(acceptedTags(harness.emulator)).toEqual([]);
    expect(answer.body.failed).toEqual([
      expect.objectContaining({
        image_version: "1.0",
        error: expect.objectContaining({ error_code: "HSS.0001", attempts: 1 }),
      }),
    ]);
    expect(harness.logged("retried")).toEqual([]);
    expect(harness.logged("failed")).toEqual([
      expect.objectContaining({
        error_code: "HSS.0001",
        attempts: 1,
        hss_request_id: harness.emulator.received[0]?.requestId,
      }),
    ]);
  });

  it("gives up after the retry budget and names exactly the images that failed", async () => {
    // Prepare: the second image's three attempts all fail
    const unavailable: EmulatorFault = {
      kind: "http",
      status: 503,
      errorCode: "APIGW.0201",
      errorMsg: "unavailable",
    };
    harness.emulator.failNext({ kind: "pass" }, unavailable, unavailable, unavailable);

    // Act
    const answer = await harness.http(push("1.0", "2.0", "3.0"));

    // Assess
    expect(answer.statusCode).toBe(502);
    expect(acceptedTags(harness.emulator)).toEqual(["1.0", "3.0"]);
    expect(harness.emulator.received).toHaveLength(5);
    expect(answer.body.submitted.map((s) => "image_version" in s && s.image_version)).toEqual([
      "1.0",
      "3.0",
    ]);
    expect(answer.body.failed).toEqual([
      expect.objectContaining({
        image_version: "2.0",
        error: expect.objectContaining({ http_status: 503, error_code: "APIGW.0201", attempts: 3 }),
      }),
    ]);
    expect(answer.body.message).toMatch(/team\/backend\/api:2.0 .*APIGW.0201/);
    expect(harness.logged("retried")).toHaveLength(2);
    expect(harness.logged("failed")).toEqual([expect.objectContaining({ attempts: 3 })]);
  });
});

describe("the invocation's deadline", () => {
  it("stops trying before the platform's remaining time runs out, and reports what is left", async () => {
    // Prepare: HSS hangs every time; the platform gives 1.5 s, less a 0.5 s margin
    const harness = await startHarness({
      HSS_TIMEOUT_MS: "5000",
      HSS_RETRY_BASE_MS: "10",
      HSS_BATCH_SIZE: "1",
      HSS_CONCURRENCY: "1",
    });
    harness.emulator.failNext(
      ...Array.from({ length: 10 }, (): EmulatorFault => ({ kind: "hang" })),
    );
    const started = Date.now();
    const context = {
      getRequestID: () => "r",
      getRemainingTimeInMilliSeconds: () => 1500 - (Date.now() - started),
    };

    try {
      // Act
      const answer = (await harness.invoke(push("1.0", "2.0"), context)) as {
        statusCode: number;
        body: string;
      };

      // Assess
      const elapsed = Date.now() - started;
      expect(elapsed).toBeLessThan(1500);
      expect(answer.statusCode).toBe(502);
      const failed = JSON.parse(answer.body).failed as Array<{
        image_version: string;
        error: { error_code: string; outcome: string };
      }>;
      // The first was sent and never answered (HSS may have it); the second was never sent.
      expect(failed.map((f) => [f.image_version, f.error.error_code, f.error.outcome])).toEqual([
        ["1.0", "TIMEOUT", "sent_unanswered"],
        ["2.0", "DEADLINE_EXCEEDED", "not_sent"],
      ]);
      expect(JSON.parse(answer.body)).toMatchObject({ hss_requests: 1 });
      expect(JSON.parse(answer.body).message).toMatch(
        /1.0 .*\(sent, no answer: TIMEOUT.*2.0 .*\(not sent: DEADLINE_EXCEEDED/,
      );
    } finally {
      await harness.close();
    }
  });

  it("answers HTTP deliveries within HTTP_DEADLINE_MS even when the function has more time", async () => {
    const harness = await startHarness({ HTTP_DEADLINE_MS: "800", HSS_TIMEOUT_MS: "5000" });
    harness.emulator.failNext({ kind: "hang" });
    const started = Date.now();
    try {
      const answer = (await harness.invoke(push("1.0"))) as { statusCode: number };
      expect(answer.statusCode).toBe(502);
      expect(Date.now() - started).toBeLessThan(1500);
    } finally {
      await harness.close();
    }
  });
});

describe("bounded concurrency", () => {
  it("never has more than HSS_CONCURRENCY requests in flight", async () => {
    const harness = await startHarness({ HSS_BATCH_SIZE: "1", HSS_CONCURRENCY: "2" });
    harness.emulator.failNext(
      ...Array.from({ length: 6 }, (): EmulatorFault => ({ kind: "delay", ms: 60 })),
    );
    try {
      const answer = await harness.http(push("1", "2", "3", "4", "5", "6"));
      expect(answer.statusCode).toBe(202);
      expect(acceptedTags(harness.emulator).sort()).toEqual(["1", "2", "3", "4", "5", "6"]);
      expect(harness.emulator.maxInFlight()).toBe(2);
    } finally {
      await harness.close();
    }
  });
});

describe("HSS's rate limit in direct mode", () => {
  it("does not retry a 429 within the window and answers 503 with Retry-After", async () => {
    // Prepare
    const harness = await startHarness({ HSS_RETRY_ATTEMPTS: "4", HSS_RETRY_BASE_MS: "10" });
    harness.emulator.failNext({ kind: "http", status: 429, errorCode: "APIGW.0308" });
    try {
      // Act: a delivery that is throttled, then another one within the same minute
      const throttled = await harness.http(push("1.0"));
      const next = await harness.http(push("2.0"));

      // Assess: one call only; both told to come back after the window
      expect(harness.emulator.received).toHaveLength(1);
      expect(throttled.statusCode).toBe(503);
      expect(Number(throttled.headers["retry-after"])).toBeGreaterThanOrEqual(60);
      expect(throttled.body).toMatchObject({
        status: "rate_limited",
        failed: [{ image_version: "1.0", error: { error_code: "APIGW.0308", http_status: 429 } }],
      });
      expect(next.statusCode).toBe(503);
      expect(next.body.failed[0]?.error.error_code).toBe("RATE_LIMITED");
      expect(Number(next.headers["retry-after"])).toBeGreaterThan(50);
      expect(harness.logged("retried")).toEqual([]);
    } finally {
      await harness.close();
    }
  });

  it("sends at most HSS_CALLS_PER_MINUTE calls a minute, then answers 503 without calling", async () => {
    const harness = await startHarness({ HSS_CALLS_PER_MINUTE: "2" }, { rateLimited: true });
    try {
      const answers = [];
      for (const tag of ["1", "2", "3"]) answers.push(await harness.http(push(tag)));
      expect(answers.map((answer) => answer.statusCode)).toEqual([202, 202, 503]);
      expect(acceptedTags(harness.emulator)).toEqual(["1", "2"]);
      expect(harness.emulator.received).toHaveLength(2);
      expect(answers[2]?.body.retry_after_seconds).toBeGreaterThan(0);
    } finally {
      await harness.close();
    }
  });
});

describe("retried deliveries", () => {
  it("do not scan again what this instance already submitted", async () => {
    // Prepare: the first delivery half fails
    const harness = await startHarness({ HSS_BATCH_SIZE: "1", HSS_CONCURRENCY: "1" });
    harness.emulator.failNext(
      { kind: "pass" },
      { kind: "http", status: 400, errorCode: "HSS.0001" },
    );

    try {
      // Act: the sender retries the same delivery after the 502
      const first = await harness.http(push("1.0", "2.0"));
      const retried = await harness.http(push("1.0", "2.0"));

      // Assess: each image reached HSS exactly once
      expect(first.statusCode).toBe(502);
      expect(retried.statusCode).toBe(202);
      expect(acceptedTags(harness.emulator)).toEqual(["1.0", "2.0"]);
      expect(retried.body.skipped).toEqual([
        {
          image: "team/backend/api:1.0 (instance inst-1)",
          rule: "recently-submitted",
          reason: expect.stringMatching(/accepted by HSS .* as this instance remembers/),
        },
      ]);
    } finally {
      await harness.close();
    }
  });

  it("are sent again once DEDUPE_WINDOW_SECONDS is 0", async () => {
    const harness = await startHarness({ DEDUPE_WINDOW_SECONDS: "0" });
    try {
      await harness.http(push("1.0"));
      await harness.http(push("1.0"));
      expect(acceptedTags(harness.emulator)).toEqual(["1.0", "1.0"]);
    } finally {
      await harness.close();
    }
  });
});
