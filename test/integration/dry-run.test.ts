import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EVENT_ENV } from "../support/event-expectations";
import { eventFiles, loadEvent } from "../support/fixtures";
import { type Harness, startHarness } from "../support/harness";

const reportOf = (result: unknown) => {
  const answer = result as { statusCode?: number; body?: string };
  return (typeof answer.statusCode === "number" ? JSON.parse(answer.body ?? "{}") : result) as {
    status: string;
    hss_requests: number;
    would_send?: Array<{
      method: string;
      url: string;
      headers: Record<string, string>;
      body: unknown;
    }>;
  };
};

/**
 * For every sample: what a dry run says it would send is exactly what the same event sends for
 * real, request by request (method, path, query, region and project headers, body).
 */
describe("dry run", () => {
  let real: Harness;
  let dry: Harness;
  const env = {
    ...EVENT_ENV,
    HSS_ENTERPRISE_PROJECT_ID: "all_granted_eps",
    DEDUPE_WINDOW_SECONDS: "0",
  };
  beforeAll(async () => {
    real = await startHarness(env);
    dry = await startHarness({ ...env, DRY_RUN: "true", CLOUD_SDK_AK: "", CLOUD_SDK_SK: "" });
  });
  afterAll(async () => {
    await real.close();
    await dry.close();
  });

  it.each(eventFiles())("of %s shows the requests the same event sends for real", async (file) => {
    // Prepare
    real.emulator.reset();
    dry.emulator.reset();

    // Act
    await real.invoke(loadEvent(file));
    const report = reportOf(await dry.invoke(loadEvent(file)));

    // Assess
    expect(dry.emulator.received).toHaveLength(0);
    const sent = real.emulator.received.map((request) => ({
      method: request.method,
      path: request.path,
      query: request.query,
      region: request.headers.region,
      project: request.headers["x-project-id"],
      body: request.body,
    }));
    const wouldSend = (report.would_send ?? []).map((request) => {
      const url = new URL(request.url);
      return {
        method: request.method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        region: request.headers.region,
        project: request.headers["x-project-id"],
        body: request.body,
      };
    });
    expect(wouldSend).toEqual(sent);
    if (sent.length > 0) expect(report).toMatchObject({ status: "dry_run", hss_requests: 0 });
  });

  it("answers HTTP deliveries with 200, since nothing was accepted for scanning", async () => {
    const answer = (await dry.invoke(loadEvent("apig-swr-ee-push.json"))) as { statusCode: number };
    expect(answer.statusCode).toBe(200);
  });

  it("leaves no memory of submissions behind", async () => {
    const remembering = await startHarness({ ...EVENT_ENV, DRY_RUN: "true" });
    try {
      const first = reportOf(await remembering.invoke(loadEvent("apig-swr-ee-push.json")));
      const second = reportOf(await remembering.invoke(loadEvent("apig-swr-ee-push.json")));
      expect(second.would_send).toEqual(first.would_send);
    } finally {
      await remembering.close();
    }
  });
});

describe("dry run with nothing to send", () => {
  it("still says it is a dry run", async () => {
    const harness = await startHarness({ ...EVENT_ENV, DRY_RUN: "true" });
    try {
      const answer = (await harness.invoke(loadEvent("apig-ignored-pull.json"))) as {
        statusCode: number;
      };
      expect(answer.statusCode).toBe(200);
      const digestOnly = {
        type: "PUSH_ARTIFACT",
        event_data: {
          resources: [{ tag: `sha256:${"a".repeat(64)}` }],
          repository: { repo_full_name: "team/api", namespace: "team" },
        },
      };
      expect(await harness.invoke(digestOnly)).toMatchObject({
        status: "dry_run",
        would_submit: [],
        would_send: [],
        skipped: [{ rule: "digest" }],
      });
    } finally {
      await harness.close();
    }
  });
});
