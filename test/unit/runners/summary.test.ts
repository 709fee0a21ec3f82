import { describe, expect, it } from "vitest";
import { HttpError } from "../../../src/errors";
import type { ScanReport } from "../../../src/report";
import { summariseOutcome } from "../../../src/runners/summary";

const report = (overrides: Partial<ScanReport>): ScanReport => ({
  status: "submitted",
  message: "",
  event: { format: "harbor-default", type: "PUSH_ARTIFACT" },
  submitted: [],
  skipped: [],
  failed: [],
  hss_requests: 0,
  ...overrides,
});
const image = { namespace: "n", image_name: "i", image_version: "1" };

describe("the invoke summary", () => {
  it("counts what was submitted and groups skips by rule", () => {
    const result = report({
      submitted: [image, image],
      hss_requests: 1,
      skipped: [
        { image: "a", rule: "digest", reason: "" },
        { image: "b", rule: "exclude.tags", reason: "" },
        { image: "c", rule: "digest", reason: "" },
      ],
    });
    expect(summariseOutcome({ result })).toBe(
      "submitted 2 images in 1 HSS request, skipped 3, failed 0\n  skipped by rule: digest ×2, exclude.tags ×1",
    );
  });

  it("reads the report inside an HTTP answer", () => {
    const body = JSON.stringify(
      report({ status: "ignored", message: "PULL_ARTIFACT events are acknowledged and ignored" }),
    );
    expect(summariseOutcome({ result: { statusCode: 200, body } })).toBe(
      "HTTP 200: ignored: PULL_ARTIFACT events are acknowledged and ignored",
    );
  });

  it("groups failures by HSS error code", () => {
    const failed = [
      {
        ...image,
        error: { outcome: "refused" as const, error_code: "HSS.0001", error_msg: "x", attempts: 1 },
      },
    ];
    const error = new HttpError(502, "failed", { report: report({ status: "failed", failed }) });
    expect(summariseOutcome({ error })).toBe(
      "submitted 0 images in 0 HSS requests, skipped 0, failed 1\n  failed by HSS error: HSS.0001 ×1",
    );
  });

  it("says what was submitted at once and what waits on the queue", () => {
    const result = report({
      status: "queued",
      queued: [image, image],
      submitted: [image],
      hss_requests: 1,
    });
    expect(summariseOutcome({ result })).toBe(
      "submitted 1 image in 1 HSS request, 2 still queued, 0 dead-lettered, skipped 0",
    );
  });

  it("says what a dry run would send", () => {
    const result = report({ status: "dry_run", would_submit: [image], would_send: [{} as never] });
    expect(summariseOutcome({ result })).toBe(
      "dry run: 1 image would be submitted in 1 HSS request; nothing was sent",
    );
  });

  it("repeats the reason of a rejection", () => {
    expect(summariseOutcome({ error: new Error("invalid HSS batch-scan request payload") })).toBe(
      "rejected: invalid HSS batch-scan request payload",
    );
  });
});
