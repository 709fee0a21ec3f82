import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { startChatStandIns } from "../../../src/emulator/chat-stand-ins";
import { emulatorEnvironment, startHssEmulator } from "../../../src/emulator/hss-emulator";
import { tagsPush } from "../../support/fixtures";
import { flushUntil, functionInstance, inHss } from "../../support/harness";
import { runLocalTool } from "../../support/local-tool";
import { useRedis } from "../../support/use-redis";

/**
 * Images already pushed, re-evaluated: the function's pushes set each digest's baseline; a
 * vulnerability published later is found by `rescan --now` (a real process on the function's
 * Redis) and alerted for exactly the images it affects, once; what the exceptions file accepts is
 * not alerted (and the same file lets the gate pass), an exception that ended is, and one ending
 * within a week is announced.
 */

const redis = useRedis();
const INSTANCE = "inst-rescan";
const HOST = "swr-ee-rescan.example.com";
const day = (offset: number) =>
  new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);

describe("rescans of images already pushed", () => {
  it("alerts only what is new, once; honours the exceptions file; announces an ending exception", async () => {
    const emulator = await startHssEmulator({
      rateLimit: false,
      timings: { syncMs: 200, scanStartMs: 100, scanMs: 300 },
    });
    const chat = await startChatStandIns();
    const hook = chat.robot("webhook");
    const ignore = [
      `CVE-2026-77002 image=team/app:v3 package=zlib until=${day(3)} owner=team-app # not reachable`,
      `CVE-2026-77003 until=${day(-1)} # accepted until yesterday`,
    ].join("\n");
    const env = {
      SCAN_QUEUE: redis().url,
      HSS_CALLS_PER_MINUTE: "1000",
      FOLLOW_UP_INTERVAL_SECONDS: "1",
      RESCAN_EVERY_DAYS: "7",
      RESCAN_FROM_HSS: "true",
      NOTIFY_CHANNELS: JSON.stringify({ team: { type: "webhook", url: hook.url } }),
      NOTIFY_MIN_SEVERITY: "low",
      NOTIFY_IGNORE: ignore,
    };
    const fn = functionInstance(emulator, env);
    const rescanNow = () =>
      runLocalTool("cli/rescan.ts", ["--now", "--json", "--wait", "60"], {
        PATH: process.env.PATH ?? "",
        ...emulatorEnvironment(emulator),
        ...env,
      });
    try {
      // Prepare: six clean tags pushed through the function, followed to their results
      const tags = ["v1", "v2", "v3", "v4", "v5", "v6"];
      for (const tag of tags) {
        inHss(emulator, { namespace: "team", name: "app", tag, instance: INSTANCE, host: HOST });
      }
      const pushed = await fn.http(
        tagsPush(tags, {
          repository: "team/app",
          host: HOST,
          instanceId: INSTANCE,
          digest: (tag) => `sha256:${tag}`,
        }),
      );
      expect(pushed.statusCode).toBe(202);
      await flushUntil([fn], () => fn.logged("scan_finished").length >= 6, 15_000);
      expect(hook.accepted()).toEqual([]);

      // What a pass would do now (nothing is due for a week), and the queue's status
      const toolEnv = { PATH: process.env.PATH ?? "", ...emulatorEnvironment(emulator), ...env };
      const dry = await runLocalTool("cli/rescan.ts", ["--dry-run"], toolEnv);
      expect(dry.stdout).toMatch(
        /^6 image\(s\) in the rescan set; 0 would be rescanned now \(today 0 of 500, RESCAN_MAX_PER_DAY\)$/m,
      );
      expect(dry.stdout).toMatch(/^next image due at \d{4}-/m);
      const status = await runLocalTool("cli/queue.ts", ["status"], toolEnv);
      expect(status.stdout).toMatch(
        /^rescans: 6 image\(s\) in the set, next due \d{4}-.*; today 0 of 500 \(RESCAN_MAX_PER_DAY\)$/m,
      );

      // Another tag HSS lists, never pushed through the function: imported into the set
      inHss(emulator, {
        namespace: "team",
        name: "app",
        tag: "v7",
        instance: INSTANCE,
        host: HOST,
      });

      // Act 1: HSS learns of three vulnerabilities; the set is rescanned now
      emulator.publish("CVE-2026-77001", "openssl", ["team/app:v1", "team/app:v2"]);
      emulator.publish("CVE-2026-77002", "zlib", ["team/app:v3"]);
      emulator.publish("CVE-2026-77003", "bash", ["team/app:v4"], "delay_repair");
      const first = await rescanNow();

      // Assess 1: seven rescans (v7 from HSS's list); v1 and v2 (new), v4 (its exception ended)
      // alerted; v3 not
      expect(first.code).toBe(0);
      const pass = JSON.parse(first.stdout);
      expect(pass).toMatchObject({ queued: 7, followed: 7, spent_today: 7 });
      expect(pass.new_findings.map((found: { image: string }) => found.image).sort()).toEqual([
        `team/app:v1 (instance ${INSTANCE})`,
        `team/app:v2 (instance ${INSTANCE})`,
        `team/app:v4 (instance ${INSTANCE})`,
      ]);
      const alerts = hook
        .accepted()
        .flatMap((post) => (post.body.alerts as Array<Record<string, unknown>>) ?? []);
      expect(
        alerts.map((alert) => [
          alert.event,
          (alert.tags as string[]).join(","),
          (alert.vulnerabilities as Array<{ id: string }>).map((vul) => vul.id).join(","),
        ]),
      ).toEqual(
        expect.arrayContaining([
          ["new_vulnerabilities", "v1", "CVE-2026-77001"],
          ["new_vulnerabilities", "v2", "CVE-2026-77001"],
          ["new_vulnerabilities", "v4", "CVE-2026-77003"],
        ]),
      );
      expect(alerts).toHaveLength(3);

      // Act 2: a second pass
      const second = await rescanNow();

      // Assess 2: nothing new alerted; v3's exception, ending in 3 days, announced once
      expect(JSON.parse(second.stdout)).toMatchObject({ queued: 7, new_findings: [] });
      const later = hook
        .accepted()
        .flatMap((post) => (post.body.alerts as Array<Record<string, unknown>>) ?? [])
        .slice(3);
      expect(later).toEqual([
        expect.objectContaining({
          event: "exception_ending",
          tags: ["v3"],
          exception: {
            id: "CVE-2026-77002",
            until: day(3),
            owner: "team-app",
            reason: "not reachable",
          },
        }),
      ]);

      // The same file lets the CI gate pass for v3
      const dir = mkdtempSync(join(tmpdir(), "rescan-gate-"));
      writeFileSync(join(dir, ".hssignore"), `${ignore}\n`);
      const gate = await runLocalTool(
        "cli/scan.ts",
        [
          `${HOST}/team/app:v3`,
          "--wait",
          "--fail-on",
          "low",
          "--ignore-file",
          join(dir, ".hssignore"),
        ],
        {
          PATH: process.env.PATH ?? "",
          ...emulatorEnvironment(emulator),
          SWR_INSTANCES: JSON.stringify({ [HOST]: INSTANCE }),
          HSS_CALLS_PER_MINUTE: "1000",
        },
      );
      expect(gate.stdout).toMatch(/CVE-2026-77002/);
      expect(gate.code).toBe(0);
    } finally {
      await fn.close();
      await chat.close();
      await emulator.close();
    }
  });
});
