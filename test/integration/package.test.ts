import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Ajv from "ajv-draft-04";
import addFormats from "ajv-formats";
import { beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../support/local-tool";

/**
 * The package as a user gets it: `npm pack`'s tarball holds what a user needs and nothing else,
 * needs nothing installed beside it, and runs with `npx` (against the embedded emulator here).
 */

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }) {
  return new Promise<Run>((resolve) => {
    execFile(
      command,
      args,
      { cwd: options.cwd, env: options.env ?? process.env, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe("the package", () => {
  it("holds the commands, the docs, the samples and the licence, and no sources or tests", async () => {
    const packed = await run("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
      cwd: ROOT,
    });
    expect(packed.code).toBe(0);
    const [manifest] = JSON.parse(packed.stdout) as Array<{ files: Array<{ path: string }> }>;
    const files = (manifest?.files ?? []).map((file) => file.path);
    for (const needed of [
      "bin/swr-scan-on-push.js",
      "dist-cli/swr-scan-on-push.js",
      "README.md",
      "CHANGELOG.md",
      "LICENSE",
      "docs/ci-gate.md",
      "events/harbor-push.json",
      "package.json",
    ]) {
      expect(files).toContain(needed);
    }
    for (const path of files) {
      expect(path).not.toMatch(/^(src|test|scripts|deploy|dist|node_modules)\//);
    }
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    // Everything is bundled: installing the package installs nothing else.
    expect(pkg.dependencies ?? {}).toEqual({});
    expect(pkg.bin).toEqual({ "swr-scan-on-push": "bin/swr-scan-on-push.js" });
  });

  describe("run with npx from its tarball", () => {
    let tarball: string;
    let work: string;
    beforeAll(async () => {
      work = mkdtempSync(join(tmpdir(), "npx-"));
      const packed = await run("npm", ["pack", "--json", "--pack-destination", work], {
        cwd: ROOT,
      });
      expect(packed.code).toBe(0);
      const [manifest] = JSON.parse(packed.stdout) as Array<{ filename: string }>;
      // npx takes a package spec: a relative path to the tarball (an absolute one is a command).
      tarball = `./${manifest?.filename ?? ""}`;
    }, 120_000);

    /** npx on the tarball, offline, with a cache of its own and no HSS settings. */
    const npx = (...args: string[]) =>
      run("npx", ["--yes", tarball, ...args], {
        cwd: work,
        env: {
          PATH: process.env.PATH,
          HOME: work,
          npm_config_cache: join(work, "npm-cache"),
          npm_config_offline: "true",
          npm_config_update_notifier: "false",
        },
      });

    it("answers --version and --help", async () => {
      const version = await npx("--version");
      expect(version.code).toBe(0);
      expect(version.stdout).toMatch(/^swr-scan-on-push \d+\.\d+\.\d+/);
      const help = await npx("scan", "--help");
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/--format <format>/);
    }, 120_000);

    it("gates on findings and writes SARIF that validates against the SARIF 2.1.0 schema", async () => {
      const out = join(work, "out.sarif");
      // The default poll (5 s): a sync, a scan and a look fit in HSS's minute.
      const args = ["--instance-id", "inst-1", "--wait", "--fail-on", "high"];
      const high = await npx(
        "scan",
        "swr-ee.example.com/team/api:high-1",
        ...args,
        "--format",
        "sarif",
        "--output",
        out,
      );
      expect(high.code).toBe(1);
      const clean = await npx("scan", "swr-ee.example.com/team/api:clean-1", ...args);
      expect(clean.code).toBe(0);

      const require = createRequire(__filename);
      const schema = require("@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json");
      const ajv = new Ajv({ strict: false, allErrors: true, unicodeRegExp: false });
      addFormats(ajv);
      const validate = ajv.compile(schema);
      const sarif = JSON.parse(readFileSync(out, "utf8"));
      validate(sarif);
      expect(validate.errors ?? []).toEqual([]);
      expect(sarif.runs[0].results.length).toBeGreaterThan(0);
    }, 120_000);
  });

  it("installs from a git URL, building its commands on the way (prepare), and runs", async () => {
    // The repository's committed HEAD, as `npx github:<owner>/swr-scan-on-push` would fetch it;
    // offline, from npm's cache that `npm ci` filled.
    const work = mkdtempSync(join(tmpdir(), "git-install-"));
    const env = {
      ...process.env,
      npm_config_offline: "true",
      npm_config_update_notifier: "false",
      npm_config_audit: "false",
      npm_config_fund: "false",
    };
    const installed = await run(
      "npm",
      ["install", "--no-save", "--prefix", work, `git+file://${ROOT}`],
      { cwd: work, env },
    );
    expect(installed.code, installed.stderr).toBe(0);
    const bin = join(work, "node_modules", ".bin", "swr-scan-on-push");
    const version = await run(bin, ["--version"], { cwd: work, env: { PATH: process.env.PATH } });
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^swr-scan-on-push \d+\.\d+\.\d+/);
    const help = await run(bin, ["queue", "--help"], {
      cwd: work,
      env: { PATH: process.env.PATH },
    });
    expect(help.stdout).toMatch(/^usage: swr-scan-on-push queue/m);
  }, 300_000);
});
