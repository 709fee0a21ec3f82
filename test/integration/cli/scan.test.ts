import { describe, expect, it } from "vitest";
import { exitCodeOf, mapReferences, parseArgs, parseDuration } from "../../../src/cli/scan";
import { progressRenderer, type Tracked } from "../../../src/cli/scan-output";
import {
  emulatorEnvironment,
  type HssEmulator,
  startHssEmulator,
} from "../../../src/emulator/hss-emulator";
import { runLocalTool } from "../../support/local-tool";
import { emulatorWith, SCAN_HOST, SCAN_INSTANCE } from "../../support/scan-gate";

const HOST = SCAN_HOST;
const INSTANCE = SCAN_INSTANCE;

const envFor = (emulator: HssEmulator) => ({
  PATH: process.env.PATH,
  ...emulatorEnvironment(emulator),
  SWR_INSTANCES: JSON.stringify({ [HOST]: INSTANCE }),
});

const scan = (emulator: HssEmulator, ...args: string[]) =>
  runLocalTool("cli/scan.ts", [...args, "--poll", "2s"], envFor(emulator));

describe("npm run scan", () => {
  it("exits 1 for an image with high findings and 0 for a clean one, within HSS's limit", async () => {
    const [high, clean] = await Promise.all([emulatorWith(["high-1"]), emulatorWith(["clean-1"])]);
    try {
      const [flagged, passed] = await Promise.all([
        scan(high, `${HOST}/team/api:high-1`, "--wait", "--fail-on", "high"),
        scan(clean, `${HOST}/team/api:clean-1`, "--wait", "--fail-on", "high"),
      ]);

      expect(flagged.code).toBe(1);
      expect(flagged.stdout).toMatch(/team\/api:high-1 \(instance inst-ci\)\s+scanned\s+3\s+High/);
      expect(passed.code).toBe(0);
      expect(passed.stdout).toMatch(
        /team\/api:clean-1 \(instance inst-ci\)\s+scanned\s+0\s+Security/,
      );
      for (const emulator of [high, clean]) {
        // Synced first (HSS did not know the tag), then scanned once.
        expect(emulator.syncRequests()).toHaveLength(1);
        expect(emulator.scansStarted()).toHaveLength(1);
        expect(emulator.throttledCount()).toBe(0);
        for (const calls of Object.values(emulator.callsByApi()))
          expect(calls).toBeLessThanOrEqual(5);
      }
      // Not a terminal: plain progress lines, one per change.
      expect(flagged.stderr).toMatch(
        /\] team\/api:high-1 \(instance inst-ci\): waiting for HSS to sync it/,
      );
      expect(flagged.stderr).toMatch(/\] team\/api:high-1 \(instance inst-ci\): scanned/);
    } finally {
      await high.close();
      await clean.close();
    }
  }, 60_000);

  it("prints JSON with the vulnerabilities on request, and fails on medium when asked", async () => {
    const emulator = await emulatorWith(["medium-1"]);
    try {
      const run = await scan(
        emulator,
        `${HOST}/team/api:medium-1`,
        "--wait",
        "--fail-on",
        "medium",
        "--vulnerabilities",
        "--json",
      );
      expect(run.code).toBe(1);
      const report = JSON.parse(run.stdout);
      expect(report.exit_code).toBe(1);
      expect(report.images[0]).toMatchObject({
        image: "team/api:medium-1 (instance inst-ci)",
        status: "scanned",
        vulnerabilities: 2,
        severity: "Medium",
      });
      expect(report.images[0].found).toEqual([
        expect.objectContaining({ severity: "medium", package: "zlib", version: "1.0.0" }),
        expect.objectContaining({ severity: "low", package: "bash", fix: "upgrade bash to 1.0.1" }),
      ]);
      // --json: one document on stdout, no progress lines.
      expect(run.stderr).not.toContain("] team/api:medium-1");
    } finally {
      await emulator.close();
    }
  }, 30_000);

  it("exits 3 with HSS's reason when a scan fails, and when no result comes in time", async () => {
    const emulator = await emulatorWith(["broken-1"]);
    try {
      const [broken, never] = await Promise.all([
        scan(emulator, `${HOST}/team/api:broken-1`, "--wait"),
        // Never pushed: no sync will list it.
        scan(emulator, `${HOST}/team/api:ghost-1`, "--wait", "--timeout", "3s"),
      ]);
      expect(broken.code).toBe(3);
      expect(broken.stdout).toMatch(
        /team\/api:broken-1 \(instance inst-ci\)\s+failed\s+-\s+-\s+schema_v1_not_support: image manifest schema v1 is not supported/,
      );
      expect(never.code).toBe(3);
      expect(never.stdout).toMatch(/team\/api:ghost-1 \(instance inst-ci\)\s+timed_out/);
    } finally {
      await emulator.close();
    }
  }, 30_000);

  it("maps an SWR basic reference to a private image and syncs it with RunImageSynchronize", async () => {
    const emulator = await startHssEmulator({
      timings: { syncMs: 300, scanStartMs: 100, scanMs: 600 },
    });
    emulator.push({
      image_type: "private_image",
      namespace: "team",
      image_name: "app",
      image_version: "1.0",
    });
    try {
      const run = await runLocalTool(
        "cli/scan.ts",
        ["swr.cn-north-4.myhuaweicloud.com/team/app:1.0", "--wait", "--poll", "2s"],
        envFor(emulator),
      );
      expect(run.code).toBe(0);
      expect(emulator.syncRequests()).toEqual([{ image_type: "private_image" }]);
      expect(emulator.acceptedBatches()).toEqual([
        {
          image_type: "private_image",
          image_info_list: [{ namespace: "team", image_name: "app", image_version: "1.0" }],
        },
      ]);
    } finally {
      await emulator.close();
    }
  }, 30_000);

  it.each([
    [[], "no image reference given"],
    [["--wait"], "no image reference given"],
    [[`${HOST}/team/api@sha256:abc`], "HSS scans images by tag"],
    [["team/api:1"], "expected host/namespace/repository:tag"],
    [
      [`${HOST}/team/api:1`, "--fail-on", "severe", "--wait"],
      "--fail-on takes critical, high, medium or low",
    ],
    [[`${HOST}/team/api:1`, "--fail-on", "high"], "--fail-on needs --wait"],
    [[`${HOST}/team/api:1`, "--bogus"], "unknown option --bogus"],
    [
      ["registry.example.com/team/api:1"],
      "no SWR Enterprise instance for registry registry.example.com",
    ],
  ])("exits 2 for usage errors: %j", async (args, message) => {
    const emulator = await emulatorWith([]);
    try {
      const run = await runLocalTool("cli/scan.ts", args, {
        ...envFor(emulator),
        SWR_INSTANCES: JSON.stringify({ [HOST]: INSTANCE }),
      });
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(message);
      expect(emulator.received).toHaveLength(0);
    } finally {
      await emulator.close();
    }
  });
});

describe("the scan command's parts", () => {
  it("reads durations", () => {
    expect(parseDuration("90s")).toBe(90_000);
    expect(parseDuration("15m")).toBe(900_000);
    expect(parseDuration("1h")).toBe(3_600_000);
    expect(parseDuration("250ms")).toBe(250);
    expect(() => parseDuration("soon")).toThrow(/not a duration/);
  });

  it("maps references like pushes: instance from SWR_INSTANCES, or from --instance-id", () => {
    const swr = {
      instancesByHost: { [HOST]: { id: INSTANCE, url: undefined } },
      defaultInstance: undefined,
    };
    expect(mapReferences([`${HOST}/team/backend/api:1.2`], swr, undefined)).toEqual([
      {
        reference: `${HOST}/team/backend/api:1.2`,
        image_type: "instance_image",
        target: {
          namespace: "team",
          image_name: "backend/api",
          image_version: "1.2",
          instance_id: INSTANCE,
          instance_url: `${HOST}/team/backend/api:1.2`,
        },
      },
    ]);
    expect(
      mapReferences(["other.example.com/team/api:1"], swr, "given")[0]?.target.instance_id,
    ).toBe("given");
    expect(() => parseArgs([`${HOST}/team/api:1`, "--timeout"])).toThrow(/--timeout needs a value/);
  });

  it("decides the exit status: findings at or above --fail-on, then failures", () => {
    const scanned = (severity: string, vulnerabilities: number) => ({
      image: "i",
      reference: "r",
      status: "scanned",
      severity,
      vulnerabilities,
    });
    const wait = { wait: true, failOn: "high" as const };
    expect(exitCodeOf([scanned("High", 3)], wait)).toBe(1);
    expect(exitCodeOf([scanned("Medium", 2)], wait)).toBe(0);
    expect(exitCodeOf([scanned("Medium", 2)], { wait: true, failOn: "medium" })).toBe(1);
    expect(
      exitCodeOf([scanned("Security", 0), { image: "j", reference: "s", status: "failed" }], wait),
    ).toBe(3);
    expect(exitCodeOf([scanned("High", 3)], { wait: true })).toBe(0);
    expect(exitCodeOf([{ image: "i", reference: "r", status: "submitted" }], { wait: false })).toBe(
      0,
    );
  });

  it("redraws its progress in place on a terminal, and writes a line per change elsewhere", () => {
    const image = (phase: Tracked["phase"], hssStatus?: string): Tracked => ({
      reference: `${HOST}/team/api:1`,
      image_type: "instance_image",
      target: { namespace: "team", image_name: "api", image_version: "1", instance_id: INSTANCE },
      phase,
      ...(hssStatus ? { hssStatus } : {}),
    });
    const written = (isTTY: boolean) => {
      const out: string[] = [];
      const stream = {
        isTTY,
        write: (text: string) => out.push(text),
      } as unknown as NodeJS.WriteStream;
      const render = progressRenderer(stream, true);
      render([image("syncing")], 1000, false);
      render([image("syncing")], 6000, false);
      render([image("requested", "scanning")], 11_000, false);
      render([image("finished")], 16_000, true);
      return out;
    };

    const tty = written(true);
    expect(tty[0]).toBe("\x1b[2Kscanning 1 image(s), 1s elapsed\n");
    expect(tty[1]).toBe("\x1b[2K  team/api:1 (instance inst-ci)  waiting for HSS to sync it\n");
    expect(tty[2]).toBe("\x1b[2A"); // back up over the two lines, then redraw them
    expect(tty).toContain(
      "\x1b[2K  team/api:1 (instance inst-ci)  scan requested (HSS: scanning)\n",
    );
    expect(tty.at(-1)).toBe("\x1b[2K  team/api:1 (instance inst-ci)  scanned\n");

    expect(written(false)).toEqual([
      "[1s] team/api:1 (instance inst-ci): waiting for HSS to sync it\n",
      "[11s] team/api:1 (instance inst-ci): scan requested (HSS: scanning)\n",
      "[16s] team/api:1 (instance inst-ci): scanned\n",
    ]);
  });
});
