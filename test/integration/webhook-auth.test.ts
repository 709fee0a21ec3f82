import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createLocalContext } from "../../src/runners/context";
import { apigEvent, harborPush } from "../support/fixtures";
import { type Harness, startHarness } from "../support/harness";

const CURRENT = "current-webhook-secret-4f7a9c";
const PREVIOUS = "previous-webhook-secret-1b2d3e";
const body = harborPush("team/api", [{ tag: "1", resource_url: "r.example.com/team/api:1" }]);
const delivery = (headers: Record<string, string>) => {
  const event = apigEvent(body, { query: { instance_id: "i" } });
  return { ...event, headers: { "content-type": "application/json", ...headers } };
};

describe("webhook authentication", () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness({
      WEBHOOK_SECRET: `${CURRENT}, ${PREVIOUS}`,
      DEDUPE_WINDOW_SECONDS: "0",
    });
  });
  afterAll(() => harness.close());
  beforeEach(() => {
    harness.emulator.reset();
    harness.logs.length = 0;
  });

  it.each([
    ["the bare secret", CURRENT],
    ["Bearer <secret>", `Bearer ${CURRENT}`],
    ["the previous secret during rotation", PREVIOUS],
  ])("accepts %s in the Authorization header", async (_, value) => {
    const answer = await harness.http(delivery({ authorization: value }));
    expect(answer.statusCode).toBe(202);
    expect(harness.emulator.acceptedBatches()).toHaveLength(1);
  });

  it.each([
    ["no header", {}],
    ["a wrong secret", { authorization: "Bearer wrong-secret-value-123" }],
    ["the secret in another header", { "x-token": CURRENT }],
  ])(
    "refuses a delivery with %s: 401, nothing sent, the attempt logged without its value",
    async (_, headers) => {
      const answer = await harness.http(delivery(headers));

      expect(answer.statusCode).toBe(401);
      expect(answer.headers["www-authenticate"]).toBe("Bearer");
      expect(harness.emulator.received).toHaveLength(0);
      expect(harness.logEvents()).toContainEqual(
        expect.objectContaining({ event: "unauthenticated", header: "authorization" }),
      );
      const output = [JSON.stringify(answer), ...harness.logs].join("\n");
      expect(output).not.toContain("wrong-secret-value-123");
      expect(output).not.toContain(CURRENT);
    },
  );

  it("needs no secret for a direct invocation", async () => {
    const report = await harness.invoke({
      image_type: "private_image",
      image_info_list: [{ namespace: "n", image_name: "i", image_version: "1" }],
    });
    expect(report).toMatchObject({ status: "submitted" });
  });
});

describe("webhook authentication settings", () => {
  it("reads the secret from the header named by WEBHOOK_SECRET_HEADER", async () => {
    const harness = await startHarness({
      WEBHOOK_SECRET: CURRENT,
      WEBHOOK_SECRET_HEADER: "X-Swr-Token",
    });
    try {
      expect((await harness.http(delivery({ "x-swr-token": CURRENT }))).statusCode).toBe(202);
      expect((await harness.http(delivery({ authorization: CURRENT }))).statusCode).toBe(401);
    } finally {
      await harness.close();
    }
  });

  it("refuses every HTTP delivery when no secret is configured, saying how to fix it", async () => {
    const harness = await startHarness({ WEBHOOK_SECRET: "" });
    try {
      const answer = await harness.http(delivery({ authorization: CURRENT }));
      expect(answer.statusCode).toBe(401);
      expect(answer.body.message).toMatch(/set WEBHOOK_SECRET, or WEBHOOK_AUTH=none/);
      expect(harness.emulator.received).toHaveLength(0);
    } finally {
      await harness.close();
    }
  });

  it("reads a secret FunctionGraph gives through context.getUserData (its encrypted variables)", async () => {
    // Prepare: the environment has no secret; the context has it, as for an encrypted variable
    const harness = await startHarness({ WEBHOOK_SECRET: "" });
    const context = {
      ...createLocalContext(),
      getUserData: (key: string) => (key === "WEBHOOK_SECRET" ? CURRENT : undefined),
    };
    try {
      // Act
      const answer = (await harness.invoke(delivery({ authorization: CURRENT }), context)) as {
        statusCode: number;
      };

      // Assess
      expect(answer.statusCode).toBe(202);
      expect(harness.emulator.acceptedBatches()).toHaveLength(1);
    } finally {
      await harness.close();
    }
  });

  it("accepts unauthenticated deliveries only with WEBHOOK_AUTH=none", async () => {
    const harness = await startHarness({ WEBHOOK_SECRET: "", WEBHOOK_AUTH: "none" });
    try {
      expect((await harness.http(delivery({}))).statusCode).toBe(202);
    } finally {
      await harness.close();
    }
  });

  it("refuses a secret shorter than 16 characters at configuration", async () => {
    const harness = await startHarness({ WEBHOOK_SECRET: "short" });
    try {
      const answer = await harness.http(delivery({ authorization: "short" }));
      expect(answer.statusCode).toBe(500);
      expect(answer.body.message).toMatch(
        /WEBHOOK_SECRET: each secret must be at least 16 characters/,
      );
      expect(answer.body.message).not.toContain('"short"');
    } finally {
      await harness.close();
    }
  });

  // An HTTP header carries bytes; Node (and the gateways) read them as Latin-1, so "ü" configured
  // would arrive as "Ã¼" and could never match. Such a secret is refused where it is configured.
  it.each([
    ["the bare secret", (secret: string) => secret],
    ["Bearer <secret>", (secret: string) => `Bearer ${secret}`],
  ])(
    "refuses a non-ASCII secret at configuration, so %s can never be refused at random",
    async (_, header) => {
      const secret = "geheimnis-schlüssel-2026-abc";
      const harness = await startHarness({ WEBHOOK_SECRET: secret });
      try {
        // What a registry sends: the secret's UTF-8 bytes, as Node hands them over.
        const sent = Buffer.from(header(secret), "utf8").toString("latin1");
        const answer = await harness.http(delivery({ authorization: sent }));
        expect(answer.statusCode).toBe(500);
        expect(answer.body.message).toMatch(/WEBHOOK_SECRET: must be printable ASCII/);
        expect(answer.body.message).not.toContain("schlüssel");
        expect(harness.emulator.received).toHaveLength(0);
      } finally {
        await harness.close();
      }
    },
  );

  it.each([
    ["the bare secret", (secret: string) => secret],
    ["Bearer <secret>", (secret: string) => `Bearer ${secret}`],
  ])("accepts a secret made of any printable ASCII, as %s", async (_, header) => {
    const secret = "A-z0~9!#$%&'*+./:;<=>?@[]^_`{|}";
    const harness = await startHarness({ WEBHOOK_SECRET: secret });
    try {
      const answer = await harness.http(delivery({ authorization: header(secret) }));
      expect(answer.statusCode).toBe(202);
    } finally {
      await harness.close();
    }
  });
});

describe("manual HSS requests over HTTP", () => {
  const manual = { image_type: "private_image", operate_all: true };

  it("are refused with 403 by default, even with the right secret, and nothing is sent", async () => {
    const harness = await startHarness();
    try {
      const answer = await harness.http(apigEvent(manual));
      expect(answer.statusCode).toBe(403);
      expect(answer.body.message).toMatch(/not accepted over HTTP.*HTTP_MANUAL_REQUESTS=true/);
      expect(harness.emulator.received).toHaveLength(0);
      // A direct invocation is authorised by the platform, and still works.
      await expect(harness.invoke(manual)).resolves.toMatchObject({ status: "submitted" });
    } finally {
      await harness.close();
    }
  });

  it("are accepted when HTTP_MANUAL_REQUESTS allows them", async () => {
    const harness = await startHarness({ HTTP_MANUAL_REQUESTS: "true" });
    try {
      const answer = await harness.http(apigEvent(manual));
      expect(answer.statusCode).toBe(202);
      expect(harness.emulator.acceptedBatches()).toEqual([manual]);
    } finally {
      await harness.close();
    }
  });
});
