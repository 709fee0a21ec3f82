import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { SignedCaller } from "../../../src/cloud/request";
import { createSignedClient, SignedCallError } from "../../../src/cloud/signed-client";
import { type HssEmulator, startHssEmulator } from "../../../src/emulator/hss-emulator";
import { SCAN_APIS } from "../../../src/scan-apis";

/** One batch-scan call through the client, as the senders make it. */
const submitBatchScan = (
  caller: SignedCaller,
  scans: Parameters<(typeof SCAN_APIS)["batch-scan"]["request"]>[0],
  options: { timeoutMs: number },
) => caller.call(SCAN_APIS["batch-scan"].request(scans, { scope: 0, rateLimit: 0 }), options);

const key = { ak: "TESTACCESSKEY", sk: "test-secret-key", securityToken: "test-security-token" };
const batch = {
  image_type: "private_image" as const,
  image_info_list: [{ namespace: "test", image_name: "openjdk", image_version: "v8.8" }],
};

describe("HSS client on the SDK core", () => {
  let emulator: HssEmulator;
  beforeAll(async () => {
    emulator = await startHssEmulator({ keys: [key] });
  });
  afterAll(() => emulator.close());
  afterEach(() => {
    emulator.reset();
    vi.restoreAllMocks();
  });

  const client = (overrides: Partial<Parameters<typeof createSignedClient>[0]> = {}) =>
    createSignedClient({
      endpoint: emulator.url,
      region: "cn-north-4",
      projectId: emulator.projectId,
      credentials: key,
      ...overrides,
    });

  it("sends a correctly signed batch-scan request with region, project and token headers", async () => {
    // Act
    const result = await submitBatchScan(
      client({ enterpriseProjectId: "all_granted_eps" }),
      batch,
      {
        timeoutMs: 2000,
      },
    );

    // Assess
    const [request] = emulator.received;
    expect(request?.signature).toEqual({ valid: true, ak: key.ak });
    expect(request).toMatchObject({
      method: "POST",
      path: `/v5/${emulator.projectId}/image/batch-scan`,
      query: { enterprise_project_id: "all_granted_eps" },
      headers: {
        region: "cn-north-4",
        "x-project-id": emulator.projectId,
        "content-type": "application/json",
      },
      body: batch,
      status: 200,
    });
    expect(result.requestId).toBe(request?.requestId);
  });

  it("omits the region header and the enterprise project when not configured", async () => {
    await submitBatchScan(client({ region: undefined }), batch, { timeoutMs: 2000 });
    expect(emulator.received[0]?.headers.region).toBeUndefined();
    expect(emulator.received[0]?.query).toEqual({});
  });

  it("reports HSS's error code, message, status and request id", async () => {
    emulator.failNext({
      kind: "http",
      status: 429,
      errorCode: "APIGW.0308",
      errorMsg: "throttled",
    });
    const error = await submitBatchScan(client(), batch, { timeoutMs: 2000 }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SignedCallError);
    expect(error).toMatchObject({
      httpStatus: 429,
      errorCode: "APIGW.0308",
      message: "throttled",
      requestId: emulator.received[0]?.requestId,
    });
  });

  it("is refused by the emulator when signed with the wrong secret key", async () => {
    const error = await submitBatchScan(client({ credentials: { ...key, sk: "wrong" } }), batch, {
      timeoutMs: 2000,
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ httpStatus: 401, errorCode: "APIGW.0301" });
  });

  it("gives up after the timeout when HSS does not answer", async () => {
    emulator.failNext({ kind: "hang" });
    const started = Date.now();
    const error = await submitBatchScan(client(), batch, { timeoutMs: 200 }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ httpStatus: undefined, errorCode: "TIMEOUT" });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("reports a refused connection without a status", async () => {
    const closed = await startHssEmulator();
    const url = closed.url;
    await closed.close();
    const error = await submitBatchScan(client({ endpoint: url }), batch, {
      timeoutMs: 2000,
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ httpStatus: undefined, errorCode: "CONNECTION_ERROR" });
  });

  it("keeps the core's own logging off stdout", async () => {
    const stdout = vi.spyOn(process.stdout, "write");
    emulator.failNext({ kind: "http", status: 500, errorCode: "HSS.1000", errorMsg: "boom" });
    await submitBatchScan(client(), batch, { timeoutMs: 2000 }).catch(() => undefined);
    expect(stdout).not.toHaveBeenCalled();
  });

  it("does not write the SDK's application id file to the home directory", () => {
    const home = mkdtempSync(join(tmpdir(), "home-"));
    const previous = process.env.HOME;
    process.env.HOME = home;
    try {
      client();
    } finally {
      process.env.HOME = previous;
    }
    expect(existsSync(join(home, ".huaweicloud"))).toBe(false);
  });
});
