import { describe, expect, it } from "vitest";
import { parseRegistryPayload } from "../../../src/formats";
import { errorOf, harborPush, harborSample } from "../../support/fixtures";

describe("Harbor Default format", () => {
  it("reads the published Harbor sample as one pushed image", () => {
    const event = parseRegistryPayload(harborSample());
    expect(event).toEqual({
      kind: "push",
      format: "harbor-default",
      eventType: "PUSH_ARTIFACT",
      images: [
        {
          namespace: "test-webhook",
          repository: "test-webhook/debian",
          tag: "latest",
          digest: "sha256:8a9e9863dbb6e10edb5adfe917c00da84e1700fa76e7ed02476aa6e6fb8ee0d8",
          resourceUrl: "hub.harbor.com/test-webhook/debian:latest",
        },
      ],
    });
  });

  it("keeps a nested repository's full name", () => {
    const event = parseRegistryPayload(harborPush("team/backend/api", [{ tag: "1.0" }]));
    expect(event.kind === "push" && event.images[0]).toMatchObject({
      namespace: "team",
      repository: "team/backend/api",
    });
  });

  it("acknowledges other event types as ignored", () => {
    for (const type of ["PULL_ARTIFACT", "DELETE_ARTIFACT", "SCANNING_COMPLETED", "QUOTA_EXCEED"]) {
      expect(parseRegistryPayload(harborPush("a/b", [{ tag: "1" }], type))).toMatchObject({
        kind: "ignored",
        eventType: type,
      });
    }
  });

  it("answers 422 for a push whose event_data lacks resources", () => {
    const payload = {
      type: "PUSH_ARTIFACT",
      event_data: { repository: { repo_full_name: "a/b" } },
    };
    const error = errorOf(() => parseRegistryPayload(payload));
    expect(error.statusCode).toBe(422);
    expect(error.message).toMatch(/resources/);
  });

  it("answers 422 naming each field that is not text", () => {
    const payload = {
      type: "PUSH_ARTIFACT",
      event_data: {
        resources: [{ tag: "1" }, { tag: 2, digest: ["sha256:0"] }],
        repository: { repo_full_name: "a/b", namespace: false },
      },
    };
    const error = errorOf(() => parseRegistryPayload(payload));
    expect(error.statusCode).toBe(422);
    expect(error.message).toContain("resources.1.tag: expected text, got number");
    expect(error.message).toContain("resources.1.digest: expected text, got object");
    expect(error.message).toContain("repository.namespace: expected text, got boolean");
  });

  it("answers 422 for a push without a repository identity", () => {
    const payload = {
      type: "PUSH_ARTIFACT",
      event_data: { resources: [{ tag: "1" }], repository: {} },
    };
    const error = errorOf(() => parseRegistryPayload(payload));
    expect(error.statusCode).toBe(422);
    expect(error.message).toMatch(/repo_full_name/);
  });
});

describe("CloudEvents format", () => {
  const cloudEvent = (type: string, data: unknown) => ({
    specversion: "1.0",
    id: "4f6c3b9a-2d1e-4c7b-9a8f-0e1d2c3b4a59",
    source: "/projects/1/webhook/policies/2",
    type,
    data,
  });

  it("reads harbor.artifact.pushed data like Default event_data", () => {
    const data = harborPush("payments/gateway", [{ tag: "v2" }]).event_data;
    expect(parseRegistryPayload(cloudEvent("harbor.artifact.pushed", data))).toMatchObject({
      kind: "push",
      format: "cloudevents",
      images: [{ namespace: "payments", repository: "payments/gateway", tag: "v2" }],
    });
  });

  it("ignores other harbor.* types", () => {
    expect(parseRegistryPayload(cloudEvent("harbor.artifact.pulled", {}))).toMatchObject({
      kind: "ignored",
    });
  });

  it("acknowledges a CloudEvent that is not a registry push, saying why", () => {
    expect(parseRegistryPayload(cloudEvent("com.example.order.created", { order: 1 }))).toEqual({
      kind: "ignored",
      format: "cloudevents",
      eventType: "com.example.order.created",
      reason: "the CloudEvent's data is not a registry push",
    });
  });

  it("reads a CloudEvent whose data is a Harbor Default payload, as an event router delivers it", () => {
    const event = cloudEvent(
      "com.huaweicloud.swr.artifact",
      harborPush("team/api", [{ tag: "1" }]),
    );
    expect(parseRegistryPayload(event)).toMatchObject({
      kind: "push",
      eventType: "com.huaweicloud.swr.artifact/PUSH_ARTIFACT",
      images: [{ namespace: "team", repository: "team/api", tag: "1" }],
    });
  });

  it("reads push-typed event_data under another source's type", () => {
    const event = cloudEvent(
      "SWR:Artifact:Push",
      harborPush("team/api", [{ tag: "2" }]).event_data,
    );
    expect(parseRegistryPayload(event)).toMatchObject({ kind: "push", images: [{ tag: "2" }] });
  });

  it("answers 422 for a harbor.artifact.pushed event without data", () => {
    expect(
      errorOf(() => parseRegistryPayload(cloudEvent("harbor.artifact.pushed", undefined)))
        .statusCode,
    ).toBe(422);
  });
});

describe("CloudEvents batches", () => {
  const cloudEvent = (type: string, data: unknown) => ({
    specversion: "1.0",
    id: "x",
    source: "/s",
    type,
    data,
  });

  it("combines the pushes of an EventGrid batch and lists the other events", () => {
    const batch = {
      events: [
        cloudEvent("harbor.artifact.pushed", harborPush("team/api", [{ tag: "1" }]).event_data),
        cloudEvent("harbor.artifact.pulled", {}),
        cloudEvent("com.example", harborPush("ops/tool", [{ tag: "2" }])),
      ],
    };
    expect(parseRegistryPayload(batch)).toMatchObject({
      kind: "push",
      format: "cloudevents-batch",
      eventType: "batch of 3 events",
      images: [{ repository: "team/api" }, { repository: "ops/tool" }],
      ignored: [{ eventType: "harbor.artifact.pulled", reason: "not a push event" }],
    });
  });

  it("reads a bare JSON array as a batch (CloudEvents batch mode)", () => {
    const batch = [
      cloudEvent("harbor.artifact.pushed", harborPush("team/api", [{ tag: "1" }]).event_data),
    ];
    expect(parseRegistryPayload(batch)).toMatchObject({ kind: "push", images: [{ tag: "1" }] });
  });

  it("is ignored when none of its events is a push", () => {
    expect(
      parseRegistryPayload({ events: [cloudEvent("harbor.scan.completed", {})] }),
    ).toMatchObject({
      kind: "ignored",
      reason: "no push in the batch",
    });
  });

  it("answers 422 naming the element that is not a CloudEvent", () => {
    const error = errorOf(() =>
      parseRegistryPayload({ events: [cloudEvent("harbor.artifact.pulled", {}), { type: 1 }] }),
    );
    expect(error.statusCode).toBe(422);
    expect(error.message).toBe("events[1] is not a CloudEvent (it needs specversion and type)");
  });

  it("reads Harbor 1.x's push with resources null as a push of nothing", () => {
    const event = parseRegistryPayload({
      type: "pushImage",
      event_data: { resources: null, repository: { namespace: "team", name: "app" } },
    });
    expect(event).toMatchObject({ kind: "push", images: [] });
  });

  it("answers 422 naming the element whose data is malformed", () => {
    const error = errorOf(() =>
      parseRegistryPayload({ events: [cloudEvent("harbor.artifact.pushed", { resources: [] })] }),
    );
    expect(error.statusCode).toBe(422);
    expect(error.message).toMatch(/^events\[0\]: invalid harbor.artifact.pushed data/);
  });
});

describe("HSS batch-scan request format", () => {
  it("refuses an image entry with a misspelt field, naming it", () => {
    const error = errorOf(() =>
      parseRegistryPayload({
        image_type: "private_image",
        image_info_list: [{ namespace: "a", imagename: "b", image_version: "1" }],
      }),
    );
    expect(error.statusCode).toBe(422);
    expect(error.message).toMatch(/image_info_list.0.imagename: unknown field "imagename"/);
  });

  it("accepts the API reference's image list example", () => {
    const payload = {
      image_type: "private_image",
      image_info_list: [{ image_name: "openjdk", image_version: "v8.8", namespace: "test" }],
    };
    expect(parseRegistryPayload(payload)).toMatchObject({ kind: "scan-request", request: payload });
  });

  it("accepts operate_all with filters", () => {
    const payload = { image_type: "private_image", operate_all: true, scan_status: "unscan" };
    expect(parseRegistryPayload(payload)).toMatchObject({ kind: "scan-request", request: payload });
  });

  it.each([
    [{ image_type: "private_image" }, /list at least one image/],
    [{ image_type: "private_image", image_info_list: [] }, /list at least one image/],
    [{ image_type: "public_image", operate_all: true }, /image_type/],
    [{ image_type: "private_image", image_list: [{}] }, /image_list/],
    [{ image_type: "private_image", operate_all: true, image_info_list: [{}] }, /not both/],
    [
      { image_type: "private_image", image_info_list: [{}], namespace: "x" },
      /only together with operate_all/,
    ],
  ])("answers 422 for %j", (payload, message) => {
    const error = errorOf(() => parseRegistryPayload(payload));
    expect(error.statusCode).toBe(422);
    expect(error.message).toMatch(message);
  });
});

describe("unrecognised payloads", () => {
  it.each([
    ["a string", "hello"],
    ["null", null],
    ["a foreign object", { action: "opened", pull_request: {} }],
  ])("answers 400 for %s, saying what was expected", (_, payload) => {
    const error = errorOf(() => parseRegistryPayload(payload));
    expect(error.statusCode).toBe(400);
    expect(error.message).toMatch(/PUSH_ARTIFACT.*harbor.artifact.pushed.*image_type/);
  });
});
