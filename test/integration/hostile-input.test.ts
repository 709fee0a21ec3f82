import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SignedCaller } from "../../src/cloud/request";
import { createHandler } from "../../src/handler";
import { scanBatchSchema } from "../../src/hss/batch-scan-request";
import type { ScanReport } from "../../src/report";
import { createLocalContext } from "../../src/runners/context";
import { apigEvent, harborPush, SAMPLE_WEBHOOK_SECRET } from "../support/fixtures";
import { type Harness, startHarness } from "../support/harness";
import { seeded } from "../support/property";

const TEST_ENV = {
  HSS_ENDPOINT: "http://127.0.0.1:9",
  HSS_PROJECT_ID: "project",
  CLOUD_SDK_AK: "PROPERTYTESTAK",
  CLOUD_SDK_SK: "property-test-sk",
  WEBHOOK_SECRET: SAMPLE_WEBHOOK_SECRET,
  DEDUPE_WINDOW_SECONDS: "0",
  SWR_INSTANCE_ID: "generated-instance",
  // Thousands of generated deliveries: HSS's rate limit is not what this test is about.
  HSS_CALLS_PER_MINUTE: "10000",
  // Manual requests over HTTP are part of what is generated.
  HTTP_MANUAL_REQUESTS: "true",
};

/** How many images a generated event lists, read independently of the function's parsers. */
function imagesIn(event: unknown): number {
  const fields = event as Record<string, unknown>;
  let payload: unknown = event;
  if (typeof fields.body === "string") {
    const text = fields.isBase64Encoded
      ? Buffer.from(fields.body, "base64").toString("utf8")
      : fields.body;
    payload = JSON.parse(text);
  }
  const p = payload as {
    event_data?: { resources?: unknown[] };
    data?: { resources?: unknown[] };
    image_info_list?: unknown[];
  };
  return (p.event_data?.resources ?? p.data?.resources ?? p.image_info_list ?? []).length;
}

describe("limits", () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness({ MAX_BODY_BYTES: "4096", MAX_IMAGES_PER_DELIVERY: "5" });
  });
  afterAll(() => harness.close());

  it("413 for a body over MAX_BODY_BYTES, nothing sent", async () => {
    const answer = await harness.http(
      apigEvent({ type: "PUSH_ARTIFACT", padding: "x".repeat(5000) }),
    );
    expect(answer.statusCode).toBe(413);
    expect(answer.body.message).toMatch(/limit is 4096 \(MAX_BODY_BYTES\)/);
    expect(harness.emulator.received).toHaveLength(0);
  });

  it("413 for more images than MAX_IMAGES_PER_DELIVERY, nothing sent", async () => {
    const image_info_list = Array.from({ length: 6 }, (_, i) => ({
      namespace: "n",
      image_name: `i${i}`,
      image_version: "1",
    }));
    await expect(harness.invoke({ image_type: "private_image", image_info_list })).rejects.toThrow(
      /6 images in one delivery; the limit is 5 \(MAX_IMAGES_PER_DELIVERY\)/,
    );
    expect(harness.emulator.received).toHaveLength(0);
  });

  it.each(["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])(
    "415 for content type %s",
    async (contentType) => {
      const answer = await harness.http(
        apigEvent(harborPush("a/b", [{ tag: "1" }]), { headers: { "content-type": contentType } }),
      );
      expect(answer.statusCode).toBe(415);
      expect(answer.body.message).toMatch(/application\/json/);
    },
  );

  it("accepts application/cloudevents+json and a charset parameter", async () => {
    for (const contentType of ["application/cloudevents+json", "application/json; charset=utf-8"]) {
      const answer = await harness.http(
        apigEvent(harborPush("a/b", [{ tag: "1" }], "PULL_ARTIFACT"), {
          headers: { "content-type": contentType },
        }),
      );
      expect(answer.statusCode).toBe(200);
    }
  });

  it("answers deeply nested JSON with 400 instead of crashing", async () => {
    const depth = 100_000;
    const nested = `${"[".repeat(depth)}${"]".repeat(depth)}`;
    const big = await startHarness({ MAX_BODY_BYTES: String(4 * 1024 * 1024) });
    try {
      const answer = await big.http(apigEvent(nested));
      expect(answer.statusCode).toBe(422);
      expect(answer.body.message).toMatch(/events\[0\] is not a CloudEvent/);
      const deepObject = JSON.parse(`${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`);
      await expect(
        big.invoke({ image_type: "private_image", image_info_list: [deepObject] }),
      ).rejects.toMatchObject({
        statusCode: 422,
        message: expect.stringMatching(/unknown field "a"/),
      });
    } finally {
      await big.close();
    }
  });

  it("ignores prototype-pollution keys and pollutes nothing", async () => {
    const payload = JSON.parse(
      '{"type":"PUSH_ARTIFACT","__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}},' +
        '"event_data":{"__proto__":{"polluted":1},"resources":[{"tag":"1","__proto__":{"polluted":1}}],' +
        '"repository":{"repo_full_name":"a/b","namespace":"a","__proto__":{"polluted":1}}}}',
    );
    const manual = JSON.parse(
      '{"image_type":"private_image","image_info_list":[{"namespace":"n","image_name":"i","image_version":"1","__proto__":{"polluted":1}}]}',
    );
    const answer = await harness.http(
      apigEvent(payload, { query: JSON.parse('{"__proto__":"x","instance_id":"i"}') }),
    );
    const refusal = await harness.invoke(manual).catch((error: unknown) => error);
    expect(answer.statusCode).toBe(202);
    expect(refusal).toMatchObject({
      statusCode: 422,
      message: expect.stringMatching(/unknown field "__proto__"/),
    });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty("polluted");
  });
});

/**
 * Property-based tests: random and mutated payloads of every supported format, in every envelope.
 * The handler must always answer 2xx/4xx with a JSON body (or, invoked directly, resolve or reject
 * with a 4xx error), never crash, and never send HSS a request of the wrong shape.
 */
describe("generated hostile payloads", () => {
  const sent: unknown[] = [];
  const malformed: unknown[] = [];
  const recordingCaller: SignedCaller = {
    async call({ body: batch }) {
      sent.push(batch);
      if (!scanBatchSchema().safeParse(batch).success) malformed.push(batch);
      return { requestId: "generated", body: undefined };
    },
  };
  const handler = createHandler({
    env: TEST_ENV,
    writeLog: () => undefined,
    createCaller: () => recordingCaller,
  });

  const hostileKey = fc.constantFrom(
    "__proto__",
    "constructor",
    "prototype",
    "toString",
    "",
    "tag",
    "type",
  );
  const anyValue = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.string({ maxLength: 300 }),
    fc.constantFrom(null, "", "sha256:abc", "a".repeat(257), "名前", "../..", "a/b/c", "x:y"),
  );
  /** A field that is usually well formed and sometimes anything at all. */
  const field = <T>(valid: fc.Arbitrary<T>) =>
    fc.oneof({ weight: 12, arbitrary: valid }, { weight: 1, arbitrary: anyValue });
  /** Usually the object as generated; sometimes with a key dropped or a hostile key added. */
  const mutated = (arbitrary: fc.Arbitrary<Record<string, unknown>>) =>
    fc
      .tuple(
        arbitrary,
        fc.oneof(
          { weight: 6, arbitrary: fc.constant(undefined) },
          { weight: 1, arbitrary: fc.record({ drop: fc.nat(), key: hostileKey, value: anyValue }) },
        ),
      )
      .map(([object, mutation]) => {
        if (!mutation) return object;
        const copy: Record<string, unknown> = { ...object };
        const keys = Object.keys(copy);
        if (keys.length > 0) delete copy[keys[mutation.drop % keys.length] as string];
        // defineProperty, as JSON.parse does, so that "__proto__" becomes an own key.
        Object.defineProperty(copy, mutation.key, {
          value: mutation.value,
          enumerable: true,
          configurable: true,
          writable: true,
        });
        return copy;
      });
  const tag = fc.oneof(
    { weight: 6, arbitrary: fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/) },
    { weight: 1, arbitrary: fc.constant(`sha256:${"a".repeat(64)}`) },
    { weight: 1, arbitrary: fc.string({ maxLength: 300 }) },
  );
  const name = fc.stringMatching(/^[a-z0-9]+([._-][a-z0-9]+)*$/);
  const reference = fc
    .tuple(fc.constantFrom("r.example.com", "localhost:5000", "bad host"), name, name, tag)
    .map(
      ([host, namespace, repository, version]) => `${host}/${namespace}/${repository}:${version}`,
    );

  const eventData = mutated(
    fc.record({
      resources: field(
        fc.array(
          mutated(
            fc.record({
              tag: field(tag),
              digest: field(fc.constant(`sha256:${"b".repeat(64)}`)),
              resource_url: field(reference),
            }),
          ),
          { maxLength: 6 },
        ),
      ),
      repository: field(
        mutated(
          fc
            .tuple(name, fc.array(name, { minLength: 1, maxLength: 3 }), field(name))
            .map(([namespace, path, stray]) => ({
              name: path.join("/"),
              namespace,
              // Usually consistent with the namespace, as registries send it; sometimes not.
              repo_full_name: stray === path[0] ? `${stray}/x` : `${namespace}/${path.join("/")}`,
            })),
        ),
      ),
    }),
  );
  const harborDefault = mutated(
    fc.record({
      type: field(
        fc.constantFrom(
          "PUSH_ARTIFACT",
          "PUSH_ARTIFACT",
          "pushImage",
          "PULL_ARTIFACT",
          "SCANNING_COMPLETED",
        ),
      ),
      occur_at: field(fc.integer()),
      operator: field(name),
      event_data: field(eventData),
    }),
  );
  const cloudEvent = mutated(
    fc.record({
      specversion: field(fc.constant("1.0")),
      id: field(fc.uuid()),
      type: field(
        fc.constantFrom(
          "harbor.artifact.pushed",
          "harbor.artifact.pushed",
          "harbor.artifact.pulled",
          "com.example.other",
        ),
      ),
      source: field(fc.constant("/projects/1/webhook/policies/2")),
      data: field(eventData),
    }),
  );
  const scanTarget = mutated(
    fc.record(
      {
        namespace: field(name),
        image_name: field(name),
        image_version: field(tag),
        instance_id: field(name),
        instance_url: field(reference),
      },
      { requiredKeys: ["namespace", "image_name", "image_version"] },
    ),
  );
  const hssRequest = fc.oneof(
    mutated(
      fc.record({
        image_type: field(fc.constantFrom("private_image", "shared_image", "instance_image")),
        image_info_list: field(fc.array(field(scanTarget), { maxLength: 8 })),
      }),
    ),
    mutated(
      fc.record(
        {
          image_type: field(fc.constantFrom("private_image", "shared_image", "instance_image")),
          operate_all: field(fc.constant(true)),
          scan_status: field(fc.constantFrom("unscan", "success", "failed")),
          latest_version: field(fc.boolean()),
          namespace: field(name),
        },
        { requiredKeys: ["image_type", "operate_all"] },
      ),
    ),
  );
  const payload = fc.oneof(
    { weight: 3, arbitrary: harborDefault },
    { weight: 3, arbitrary: cloudEvent },
    { weight: 3, arbitrary: hssRequest },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  );

  const envelope = fc.oneof(
    payload.map((p) => ({ event: p as unknown, http: false })),
    fc
      .tuple(
        payload,
        fc.oneof(
          { weight: 8, arbitrary: fc.constant(true) },
          { weight: 1, arbitrary: fc.constant(false) },
        ),
        fc.option(name, { nil: undefined, freq: 8 }),
        fc.constantFrom("POST", "POST", "POST", "POST", "GET", "PUT"),
        fc.boolean(),
      )
      .map(([p, authorised, instance, method, base64]) => {
        const event = apigEvent(p, { method, query: instance ? { instance_id: instance } : {} });
        if (!authorised) event.headers.authorization = "Bearer wrong";
        if (!base64) Object.assign(event, { body: JSON.stringify(p), isBase64Encoded: false });
        return { event: event as unknown, http: true };
      }),
    fc.tuple(payload, fc.option(name, { nil: undefined })).map(([p, instance]) => ({
      http: true,
      event: {
        version: "2.0",
        rawPath: "/scan",
        rawQueryString: instance ? `instance_id=${instance}` : "",
        headers: { "content-type": "application/json", authorization: SAMPLE_WEBHOOK_SECRET },
        requestContext: { http: { method: "POST", path: "/scan" } },
        body: Buffer.from(JSON.stringify(p) ?? "").toString("base64"),
        isBase64Encoded: true,
      } as unknown,
    })),
    fc
      .string({ maxLength: 200 })
      .map((text) => ({ event: apigEvent(text) as unknown, http: true })),
  );

  it("always answers 2xx/4xx with JSON, never crashes, never sends a malformed request", async () => {
    await fc.assert(
      fc.asyncProperty(envelope, async ({ event, http }) => {
        const context = createLocalContext();
        let report: ScanReport | undefined;
        if (http) {
          const answer = (await handler(event, context as never)) as {
            statusCode: number;
            body: string;
          };
          expect(
            answer.statusCode === 200 ||
              answer.statusCode === 202 ||
              (answer.statusCode >= 400 && answer.statusCode < 500),
          ).toBe(true);
          const body = JSON.parse(answer.body);
          if (answer.statusCode === 202) report = body;
        } else {
          try {
            report = (await handler(event, context as never)) as ScanReport;
          } catch (error) {
            expect((error as { statusCode?: number }).statusCode).toBeGreaterThanOrEqual(400);
            expect((error as { statusCode?: number }).statusCode).toBeLessThan(500);
          }
        }
        // Nothing lost: every image of an accepted delivery is accounted for.
        if (report && report.status !== "ignored" && report.event.type !== "operate_all") {
          const listed = report.submitted.length + report.skipped.length + report.failed.length;
          expect(listed).toBe(imagesIn(event));
        }
      }),
      seeded(5000),
    );
    // The generators must reach the HSS call often, or the property says little.
    expect(sent.length).toBeGreaterThan(500);
    expect(malformed).toEqual([]);
  });

  it("sends only requests that the HSS emulator accepts, over real HTTP", async () => {
    const harness = await startHarness({
      SWR_INSTANCE_ID: "generated-instance",
      DEDUPE_WINDOW_SECONDS: "0",
    });
    try {
      await fc.assert(
        fc.asyncProperty(envelope, async ({ event }) => {
          await harness.invoke(event).catch(() => undefined);
        }),
        // About one generated event in ten reaches HSS: with the fixed seed the same events do,
        // every run; another PROPERTY_SEED draws others, and the floor below holds for them too.
        seeded(1000),
      );
      const answers = harness.emulator.received.map((request) => request.status);
      expect(answers.length, "requests that reached HSS").toBeGreaterThan(30);
      expect(answers.filter((status) => status !== 200)).toEqual([]);
    } finally {
      await harness.close();
    }
  });
});
