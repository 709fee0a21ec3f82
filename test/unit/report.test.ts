import { describe, expect, it } from "vitest";
import { SignedCallError } from "../../src/cloud/signed-client";
import type { RegistryEvent } from "../../src/formats/registry-event";
import type { ScanBatch } from "../../src/hss/batch-scan-request";
import { failureOutcomeOf, httpStatusOf, scanFailedError, scanReport } from "../../src/report";
import type { SubmitOutcome } from "../../src/submit";

/** What a direct-mode delivery is answered: its status, its message, and the sender's retry. */

const EVENT: RegistryEvent = {
  kind: "push",
  format: "harbor",
  eventType: "PUSH_ARTIFACT",
  images: [],
};
const batch = (...tags: string[]): ScanBatch => ({
  image_type: "private_image",
  image_info_list: tags.map((tag) => ({
    namespace: "team",
    image_name: "api",
    image_version: tag,
  })),
});
const sent = (b: ScanBatch, requestId: string): SubmitOutcome => ({
  kind: "sent",
  batch: b,
  requestId,
  attempts: 1,
  calls: 1,
});
const failed = (b: ScanBatch, error: SignedCallError, retryAfterMs?: number): SubmitOutcome => ({
  kind: "failed",
  batch: b,
  error,
  attempts: 1,
  calls: error.httpStatus === undefined ? 0 : 1,
  ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
});
const skipped = [{ image: "team/api:sig", rule: "tags", reason: "a signature, not an image" }];
const run = { requestId: "req-9", dryRun: false };

describe("scanReport", () => {
  it("says what was submitted, with HSS's request id, and what was skipped: 202", () => {
    const report = scanReport(EVENT, "private_image", skipped, [sent(batch("1", "2"), "r-1")], run);
    expect(report).toMatchObject({
      status: "submitted",
      message: "2 images submitted to HSS, 1 skipped",
      hss_requests: 1,
      request_id: "req-9",
    });
    expect(
      report.submitted.map((s) => ["image_version" in s && s.image_version, s.hss_request_id]),
    ).toEqual([
      ["1", "r-1"],
      ["2", "r-1"],
    ]);
    expect(httpStatusOf(report)).toBe(202);
  });

  it("answers 503 with Retry-After when HSS's rate limit alone held images back", () => {
    const limited = new SignedCallError("not sent: budget", undefined, "RATE_LIMITED", undefined);
    const report = scanReport(
      EVENT,
      "private_image",
      [],
      [sent(batch("1"), "r-1"), failed(batch("2"), limited, 12_500)],
      run,
    );
    expect(report).toMatchObject({ status: "rate_limited", retry_after_seconds: 13 });
    const error = scanFailedError(report);
    expect(error.statusCode).toBe(503);
    expect(error.headers).toEqual({ "retry-after": "13" });
    expect(error.message).toContain("team/api:2 (not sent: RATE_LIMITED");
  });

  it("answers 502 naming each failed image, HSS's code and request id, when HSS failed", () => {
    const refused = new SignedCallError("invalid parameter", 400, "HSS.0001", "hss-7");
    const report = scanReport(EVENT, "private_image", [], [failed(batch("1"), refused)], run);
    expect(report.status).toBe("failed");
    expect(httpStatusOf(report)).toBe(502);
    const error = scanFailedError(report);
    expect(error.statusCode).toBe(502);
    expect(error.message).toContain(
      "team/api:1 (refused: HSS.0001: invalid parameter, request id hss-7)",
    );
  });

  it("says nothing was sent in a dry run, and answers 200", () => {
    const report = scanReport(
      EVENT,
      "private_image",
      [],
      [
        {
          kind: "previewed",
          batch: batch("1"),
          preview: {
            method: "POST",
            url: "https://hss/v5/p/image/batch-scan",
            headers: {},
            body: {},
          },
        },
      ],
      { dryRun: true },
    );
    expect(report).toMatchObject({ status: "dry_run", hss_requests: 0 });
    expect(report.message).toBe(
      "dry run: 1 image would be submitted in 1 HSS request; nothing was sent",
    );
    expect(httpStatusOf(report)).toBe(200);
  });
});

describe("failureOutcomeOf", () => {
  it("tells what never left from what HSS may have received", () => {
    expect(failureOutcomeOf(new SignedCallError("x", 400, "HSS.0001", undefined))).toBe("refused");
    expect(
      failureOutcomeOf(new SignedCallError("x", undefined, "DEADLINE_EXCEEDED", undefined)),
    ).toBe("not_sent");
    expect(
      failureOutcomeOf(
        new SignedCallError("connect ECONNREFUSED", undefined, "CONNECTION_ERROR", undefined),
      ),
    ).toBe("not_sent");
    expect(failureOutcomeOf(new SignedCallError("timeout", undefined, "TIMEOUT", undefined))).toBe(
      "sent_unanswered",
    );
  });
});
