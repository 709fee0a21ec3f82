import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  emulatorEnvironment,
  type HssEmulator,
  startHssEmulator,
} from "../../../src/emulator/hss-emulator";
import { EVENTS_DIR, eventFiles } from "../../support/fixtures";
import { runLocalTool, type ToolRun } from "../../support/local-tool";
import { type RedisServer, startRedis } from "../../support/redis-server";

/** Runs the invoke command as a user would, with no cloud configuration in the environment. */
function invoke(
  ...args: Array<string | Record<string, string>>
): Promise<ToolRun & { ms: number }> {
  const extra = args.find((arg): arg is Record<string, string> => typeof arg === "object") ?? {};
  const env = {
    ...Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !/^(HSS_|CLOUD_SDK_|SWR_|SCAN_)/.test(name)),
    ),
    ...extra,
  };
  const files = args.filter((arg): arg is string => typeof arg === "string");
  // A run that never exits fails the test rather than hanging it.
  return runLocalTool("runners/invoke.ts", files, env, { timeoutMs: 90_000 });
}

describe("npm run invoke", () => {
  it.each(eventFiles())("runs %s against the embedded emulator", async (file) => {
    // Act
    const run = await invoke(join(EVENTS_DIR, file));

    // Assess: exactly one JSON value on stdout, logs and the emulator's report on stderr
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as Record<string, unknown>;
    const report = "statusCode" in result ? JSON.parse(result.body as string) : result;
    expect(["submitted", "ignored"]).toContain(report.status);
    expect(run.stderr).toMatch(/embedded HSS emulator/);
    expect(run.stderr).toMatch(/no SCAN_QUEUE set: using the in-process scan queue/);
    if (report.status === "submitted")
      expect(run.stderr).toMatch(/"signature":"valid","answered":200/);
  });

  it("with --dry-run prints the requests it would send and a summary, and sends nothing", async () => {
    const run = await invoke("--dry-run", join(EVENTS_DIR, "direct-image-list.json"));
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      status: "dry_run",
      would_send: [{ method: "POST", body: { image_type: "private_image" } }],
    });
    expect(run.stderr).not.toMatch(/"source":"hss-emulator"/);
    expect(run.stderr.trim().split("\n").at(-1)).toBe(
      "dry run: 2 images would be submitted in 1 HSS request; nothing was sent",
    );
  });

  it("drains the in-process queue before it exits, waiting out HSS's rate limit", async () => {
    // Prepare: six images, one call a window
    const file = join(mkdtempSync(join(tmpdir(), "invoke-")), "six.json");
    const resources = ["1", "2", "3", "4", "5", "6"].map((tag) => ({
      tag,
      digest: `sha256:${tag}`,
      resource_url: `hub.example.com/team/app:${tag}`,
    }));
    writeFileSync(
      file,
      JSON.stringify({
        type: "PUSH_ARTIFACT",
        event_data: {
          resources,
          repository: { name: "app", namespace: "team", repo_full_name: "team/app" },
        },
      }),
    );

    // Act
    const run = await invoke(file, {
      HSS_BATCH_SIZE: "4",
      HSS_CALLS_PER_MINUTE: "1",
      HSS_RATE_WINDOW_SECONDS: "2",
    });

    // Assess: 4 went out at once, 2 after the window, before the process ended
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ status: "queued", submitted: [{}, {}, {}, {}] });
    expect(run.stderr).toMatch(/waiting \d+ s for HSS's rate limit before sending 2 queued images/);
    expect(run.stderr.trim().split("\n").at(-1)).toBe("queue drained: 2 more images in 1 HSS call");
  });

  describe("with images it accepted but could not get scanned", () => {
    let emulator: HssEmulator;
    beforeAll(async () => {
      emulator = await startHssEmulator({
        rateLimit: false,
        rejectImage: (image) => image.image_version === "bad",
      });
    });
    afterAll(() => emulator.close());

    const pushFile = (tags: string[]) => {
      const file = join(mkdtempSync(join(tmpdir(), "invoke-")), "push.json");
      writeFileSync(
        file,
        JSON.stringify({
          type: "PUSH_ARTIFACT",
          event_data: {
            resources: tags.map((tag) => ({
              tag,
              digest: `sha256:${tag}`,
              resource_url: `hub.example.com/team/app:${tag}`,
            })),
            repository: { name: "app", namespace: "team", repo_full_name: "team/app" },
          },
        }),
      );
      return file;
    };
    const against = () => ({
      ...emulatorEnvironment(emulator),
      SWR_INSTANCE_ID: "inst-1",
      WEBHOOK_AUTH: "none",
      FOLLOW_UP: "false",
    });

    it("exits 1 naming an image HSS refused and that was dead-lettered", async () => {
      const run = await invoke(pushFile(["good", "bad"]), against());

      expect(run.code).toBe(1);
      expect(JSON.parse(run.stdout)).toMatchObject({
        status: "submitted",
        dead_lettered: [{ image_version: "bad", error: { error_code: "HSS.0001" } }],
      });
      expect(run.stderr).toMatch(
        /^dead-lettered: team\/app:bad \(instance inst-1\) — HSS.0001: invalid parameter/m,
      );
    });

    it("exits 1 naming the images still queued when it stops waiting (INVOKE_DRAIN_SECONDS)", async () => {
      const run = await invoke(pushFile(["q1", "q2", "q3"]), {
        ...against(),
        HSS_BATCH_SIZE: "1",
        HSS_CALLS_PER_MINUTE: "1",
        HSS_RATE_WINDOW_SECONDS: "60",
        INVOKE_DRAIN_SECONDS: "1",
      });

      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/queue not drained: 2 still queued/);
      expect(run.stderr).toMatch(
        /^not sent, lost when this process ends \(in-process queue\): team\/app:q2 \(instance inst-1\) \(sha256:q2\), team\/app:q3 \(instance inst-1\) \(sha256:q3\)$/m,
      );
    });
  });

  it("exits 1 with the error as JSON when the handler rejects", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "invoke-")), "bad.json");
    writeFileSync(file, JSON.stringify({ image_type: "private_image", image_list: [] }));
    const run = await invoke(file);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({
      errorMessage: expect.stringMatching(/image_list/),
    });
  });

  it.each([
    ["no file", []],
    ["a missing file", ["events/does-not-exist.json"]],
    ["two files", ["a.json", "b.json"]],
  ])("exits 2 with usage for %s", async (_, args) => {
    const run = await invoke(...args);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(/usage: swr-scan-on-push invoke \[--dry-run\] <event.json>/);
  });

  it("exits 2 for a file that is not JSON", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "invoke-")), "bad.json");
    writeFileSync(file, "type: PUSH_ARTIFACT");
    const run = await invoke(file);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/is not JSON/);
  });
});

describe("npm run invoke on every queue backend", () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis.close());

  it.each([
    ["none (direct mode)", () => "none"],
    ["memory", () => "memory"],
    ["redis", () => redis.url],
  ])(
    "exits once it has its answer, with 0 (%s)",
    async (_, queue) => {
      const run = await invoke(join(EVENTS_DIR, "harbor-push.json"), { SCAN_QUEUE: queue() });

      expect(run.code, run.stderr).toBe(0);
      expect(run.ms).toBeLessThan(60_000);
      const answer = JSON.parse(run.stdout) as Record<string, unknown>;
      const report = "statusCode" in answer ? JSON.parse(answer.body as string) : answer;
      expect(["queued", "submitted"]).toContain(report.status);
    },
    100_000,
  );
});
