import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { EmulatorFault } from "../../src/emulator/hss-emulator";
import { apigEvent, harborPush, SAMPLE_WEBHOOK_SECRET } from "../support/fixtures";
import { type Harness, startHarness } from "../support/harness";

const AK = "SECRETSCANAK7Q2W";
const SK = "SecretScanSk-9f8e7d6c5b4a";
const TOKEN = "SecretScanToken-0a1b2c3d4e5f";

/**
 * Provokes every kind of HSS failure and scans everything the function logged, answered or
 * threw, and everything written to stdout and stderr meanwhile, for the credentials.
 */
describe("no credential appears in any output", () => {
  let harness: Harness;
  const written: string[] = [];
  beforeAll(async () => {
    harness = await startHarness(
      {
        CLOUD_SDK_AK: AK,
        CLOUD_SDK_SK: SK,
        CLOUD_SDK_SECURITY_TOKEN: TOKEN,
        HSS_TIMEOUT_MS: "300",
        HSS_RETRY_BASE_MS: "5",
      },
      { keys: [{ ak: AK, sk: SK, securityToken: TOKEN }] },
    );
    for (const stream of [process.stdout, process.stderr]) {
      vi.spyOn(stream, "write").mockImplementation((chunk: string | Uint8Array) => {
        written.push(String(chunk));
        return true;
      });
    }
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await harness.close();
  });
  afterEach(() => harness.emulator.reset());

  const faults: Array<[string, EmulatorFault]> = [
    [
      "an error message that quotes the access key",
      { kind: "http", status: 401, errorCode: "APIGW.0301", errorMsg: `AK ${AK} is not valid` },
    ],
    [
      "a signature refusal",
      {
        kind: "http",
        status: 401,
        errorCode: "APIGW.0301",
        errorMsg: "Incorrect IAM authentication information",
      },
    ],
    [
      "a permanent 400",
      { kind: "http", status: 400, errorCode: "HSS.0001", errorMsg: "invalid parameter" },
    ],
    [
      "a server error",
      { kind: "http", status: 503, errorCode: "HSS.1000", errorMsg: "unavailable" },
    ],
    ["a connection reset", { kind: "reset" }],
    ["a hang past the timeout", { kind: "hang" }],
    // Last: a 429 spends this instance's window, after which nothing is sent at all.
    ["throttling", { kind: "http", status: 429, errorCode: "APIGW.0308", errorMsg: "throttled" }],
  ];

  it.each(faults)("when HSS fails with %s", async (_, fault) => {
    // Prepare
    // Enough failures for every attempt of both invocations.
    harness.emulator.failNext(...Array.from({ length: 8 }, () => fault));
    const outputs: string[] = [];

    // Act: over HTTP and by direct invocation
    const answer = await harness.invoke(
      apigEvent(harborPush("team/api", [{ tag: "1", resource_url: "r.example.com/team/api:1" }]), {
        query: { instance_id: "i" },
      }),
    );
    outputs.push(JSON.stringify(answer));
    const rejection = await harness
      .invoke({
        image_type: "private_image",
        image_info_list: [{ namespace: "n", image_name: "i", image_version: "1" }],
      })
      .catch((error: Error) => error);
    outputs.push(JSON.stringify(rejection), String(rejection), (rejection as Error).stack ?? "");

    // Assess
    expect([502, 503]).toContain((answer as { statusCode: number }).statusCode);
    expect(rejection).toBeInstanceOf(Error);
    const everything = [...outputs, ...harness.logs, ...written].join("\n");
    expect(everything.length).toBeGreaterThan(0);
    for (const secret of [AK, SK, TOKEN, SAMPLE_WEBHOOK_SECRET]) {
      expect(everything).not.toContain(secret);
    }
    expect(everything).not.toMatch(/SDK-HMAC-SHA256 Access=/);
  });

  it("when a delivery presents a wrong or a right webhook secret", async () => {
    const outputs: string[] = [];
    for (const authorization of [
      "Bearer wrong-secret-presented-by-a-stranger",
      SAMPLE_WEBHOOK_SECRET,
    ]) {
      const event = apigEvent(harborPush("team/api", [{ tag: "2" }]), {
        query: { instance_id: "i" },
      });
      event.headers.authorization = authorization;
      outputs.push(JSON.stringify(await harness.invoke(event)));
    }
    const everything = [...outputs, ...harness.logs, ...written].join("\n");
    expect(everything).toMatch(/"event":"unauthenticated"/);
    for (const secret of [
      SAMPLE_WEBHOOK_SECRET,
      "wrong-secret-presented-by-a-stranger",
      AK,
      SK,
      TOKEN,
    ]) {
      expect(everything).not.toContain(secret);
    }
  });
});
