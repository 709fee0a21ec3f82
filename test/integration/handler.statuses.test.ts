import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { apigEvent, harborPush } from "../support/fixtures";
import { type Harness, startHarness } from "../support/harness";

const DIGEST = "sha256:8a9e9863dbb6e10edb5adfe917c00da84e1700fa76e7ed02476aa6e6fb8ee0d8";
const push = (tags: string[]) =>
  harborPush(
    "team/backend/api",
    tags.map((tag) => ({ tag, resource_url: `registry.example.com/team/backend/api:${tag}` })),
  );

describe("answers to HTTP deliveries", () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness({ HSS_BATCH_SIZE: "2", HSS_CONCURRENCY: "1" });
  });
  afterAll(() => harness.close());
  beforeEach(() => harness.emulator.reset());

  it("202 with what was submitted and what was skipped and why", async () => {
    const answer = await harness.http(
      apigEvent(
        harborPush("team/backend/api", [
          { tag: "1.0", resource_url: "registry.example.com/team/backend/api:1.0" },
          { tag: DIGEST, resource_url: `registry.example.com/team/backend/api@${DIGEST}` },
        ]),
        { query: { instance_id: "inst-1" } },
      ),
    );
    expect(answer.statusCode).toBe(202);
    expect(answer.headers["content-type"]).toMatch(/application\/json/);
    expect(answer.body).toMatchObject({
      status: "submitted",
      submitted: [
        {
          namespace: "team",
          image_name: "backend/api",
          image_version: "1.0",
          instance_id: "inst-1",
        },
      ],
      skipped: [{ reason: expect.stringMatching(/pushed by digest/) }],
      failed: [],
      hss_requests: 1,
    });
    expect(answer.body.submitted[0]?.hss_request_id).toBe(harness.emulator.received[0]?.requestId);
  });

  it("202 and nothing sent when every image is skipped", async () => {
    const answer = await harness.http(
      apigEvent(harborPush("team/api", [{ tag: DIGEST }]), { query: { instance_id: "inst-1" } }),
    );
    expect(answer.statusCode).toBe(202);
    expect(answer.body.status).toBe("nothing_to_scan");
    expect(harness.emulator.received).toHaveLength(0);
  });

  it("200 for an event type that is not a push, with a log line saying so", async () => {
    const answer = await harness.http(
      apigEvent(harborPush("team/api", [{ tag: "1" }], "DELETE_ARTIFACT")),
    );
    expect(answer.statusCode).toBe(200);
    expect(answer.body.status).toBe("ignored");
    expect(harness.emulator.received).toHaveLength(0);
    expect(harness.logEvents()).toContainEqual(
      expect.objectContaining({ event: "ignored", event_type: "DELETE_ARTIFACT" }),
    );
  });

  it("400 when the body is not JSON", async () => {
    const answer = await harness.http(apigEvent("<xml/>"));
    expect(answer.statusCode).toBe(400);
    expect(answer.body.message).toMatch(/not JSON/);
  });

  it("400 for a foreign payload, saying what was expected", async () => {
    const answer = await harness.http(apigEvent({ ref: "refs/heads/main", commits: [] }));
    expect(answer.statusCode).toBe(400);
    expect(answer.body.message).toMatch(/expected a Harbor\/SWR Enterprise webhook/);
  });

  it("405 for a GET, with an Allow header", async () => {
    const answer = await harness.http(apigEvent("", { method: "GET" }));
    expect(answer.statusCode).toBe(405);
    expect(answer.headers.allow).toBe("POST");
  });

  it("422 naming what to configure when no instance id is known, and nothing sent", async () => {
    const answer = await harness.http(apigEvent(push(["1.0"])));
    expect(answer.statusCode).toBe(422);
    expect(answer.body.message).toMatch(/instance_id=.*SWR_INSTANCE_ID/);
    expect(harness.emulator.received).toHaveLength(0);
  });

  it("sends the mapped images and answers 422 naming the registry whose images were not", async () => {
    const mixed = await startHarness({
      SWR_INSTANCES: JSON.stringify({ "known.example.com": "known-instance" }),
      HSS_CONCURRENCY: "1",
    });
    try {
      const body = harborPush("team/api", [
        { tag: "1", digest: "sha256:1", resource_url: "known.example.com/team/api:1" },
        { tag: "2", digest: "sha256:2", resource_url: "unknown.example.com/team/api:2" },
      ]);
      const first = await mixed.http(apigEvent(body));
      const redelivered = await mixed.http(apigEvent(body));

      expect(first.statusCode).toBe(422);
      expect(first.body.message).toMatch(
        /no SWR Enterprise instance id for registry unknown.example.com \(1 image not sent\).*the other images were submitted/,
      );
      expect(first.body.submitted).toEqual([expect.objectContaining({ image_version: "1" })]);
      expect(first.body.unmapped).toEqual([
        { image: "unknown.example.com/team/api:2", registry: "unknown.example.com" },
      ]);
      // The redelivery sends nothing twice and still names what is missing.
      expect(redelivered.statusCode).toBe(422);
      expect(mixed.emulator.acceptedBatches()).toHaveLength(1);
    } finally {
      await mixed.close();
    }
  });

  it("400 for an instance_id query parameter that HSS cannot take, and nothing sent", async () => {
    const answer = await harness.http(
      apigEvent(push(["1.0"]), { query: { instance_id: "i".repeat(300) } }),
    );
    expect(answer.statusCode).toBe(400);
    expect(answer.body.message).toMatch(
      /instance_id query parameter must be 1–256 characters \(it has 300\)/,
    );
    expect(harness.emulator.received).toHaveLength(0);
  });

  it("422 for a push event whose event_data is malformed", async () => {
    const answer = await harness.http(
      apigEvent({ type: "PUSH_ARTIFACT", event_data: { resources: "x" } }),
    );
    expect(answer.statusCode).toBe(422);
    expect(answer.body.message).toMatch(/event_data.*resources/);
  });

  it("502 naming the images HSS did not take, with its error code and request id", async () => {
    // Prepare: batches of two; the second request is refused
    harness.emulator.failNext(
      { kind: "pass" },
      { kind: "http", status: 400, errorCode: "HSS.0001", errorMsg: "invalid parameter" },
    );

    // Act
    const answer = await harness.http(
      apigEvent(push(["1", "2", "3"]), { query: { instance_id: "inst-1" } }),
    );

    // Assess
    const refused = harness.emulator.received[1];
    expect(answer.statusCode).toBe(502);
    expect(answer.body.status).toBe("failed");
    expect(
      answer.body.submitted.map((scan) => "image_version" in scan && scan.image_version),
    ).toEqual(["1", "2"]);
    expect(answer.body.failed).toEqual([
      expect.objectContaining({
        image_version: "3",
        error: {
          outcome: "refused",
          http_status: 400,
          attempts: 1,
          error_code: "HSS.0001",
          error_msg: "invalid parameter",
          hss_request_id: refused?.requestId,
        },
      }),
    ]);
    expect(answer.body.message).toContain("team/backend/api:3");
    expect(answer.body.message).toContain(`request id ${refused?.requestId}`);
  });

  it("500 naming the variable when the configuration is invalid", async () => {
    const misconfigured = await startHarness({ HSS_ENDPOINT: "", HSS_REGION: "" });
    try {
      const answer = await misconfigured.http(apigEvent(push(["1"])));
      expect(answer.statusCode).toBe(500);
      expect(answer.body).toMatchObject({
        status: "misconfigured",
        message: expect.stringMatching(/HSS_REGION/),
      });
    } finally {
      await misconfigured.close();
    }
  });

  it("500 saying how to provide credentials when there are none", async () => {
    const noCredentials = await startHarness({
      CLOUD_SDK_AK: "",
      CLOUD_SDK_SK: "",
      SWR_INSTANCE_ID: "i",
    });
    try {
      const answer = await noCredentials.http(apigEvent(push(["1"])));
      expect(answer.statusCode).toBe(500);
      expect(answer.body.message).toMatch(/agency.*CLOUD_SDK_AK and CLOUD_SDK_SK/);
      expect(noCredentials.emulator.received).toHaveLength(0);
    } finally {
      await noCredentials.close();
    }
  });
});

describe("direct invocations", () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness();
  });
  afterAll(() => harness.close());
  beforeEach(() => harness.emulator.reset());

  const manual = {
    image_type: "private_image",
    image_info_list: [{ namespace: "test", image_name: "openjdk", image_version: "v8.8" }],
  };

  it("return the report itself, without an HTTP envelope", async () => {
    const result = await harness.invoke(manual);
    expect(result).toMatchObject({ status: "submitted", submitted: [manual.image_info_list[0]] });
    expect(result).not.toHaveProperty("statusCode");
  });

  it("reject when any image could not be submitted, naming it", async () => {
    harness.emulator.failNext({
      kind: "http",
      status: 403,
      errorCode: "HSS.0013",
      errorMsg: "insufficient permissions",
    });
    await expect(harness.invoke(manual)).rejects.toThrow(
      /test\/openjdk:v8.8 \(refused: HSS.0013: insufficient permissions/,
    );
  });

  it("reject a malformed manual event with the field that is wrong", async () => {
    await expect(harness.invoke({ image_type: "private_image", image_list: [] })).rejects.toThrow(
      /invalid HSS batch-scan request payload: .*image_list/,
    );
    expect(harness.emulator.received).toHaveLength(0);
  });

  it("use the agency's temporary credentials from the FunctionGraph context", async () => {
    const agency = { ak: "AGENCYTEMPAK", sk: "agency-temp-sk", securityToken: "agency-sts-token" };
    const withAgency = await startHarness(
      { CLOUD_SDK_AK: "", CLOUD_SDK_SK: "" },
      { keys: [agency] },
    );
    try {
      const context = {
        getRequestID: () => "fg-request",
        getSecurityAccessKey: () => agency.ak,
        getSecuritySecretKey: () => agency.sk,
        getSecurityToken: () => agency.securityToken,
      };
      await withAgency.invoke(manual, context);
      expect(withAgency.emulator.received[0]?.signature).toEqual({ valid: true, ak: agency.ak });
    } finally {
      await withAgency.close();
    }
  });
});
