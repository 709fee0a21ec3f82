import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, runLocalTool } from "../../support/local-tool";
import { startServerProcess } from "../../support/start-process";

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

const VERSION = (
  JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }
).version;

/** The environment of a user with nothing configured. */
function bare(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...extra };
}

const COMMANDS: Array<[string, string]> = [
  ["scan", "cli/scan.ts"],
  ["queue", "cli/queue.ts"],
  ["check-deploy", "cli/check-deploy.ts"],
  ["wire", "cli/wire.ts"],
  ["rescan", "cli/rescan.ts"],
  ["invoke", "runners/invoke.ts"],
  ["start", "runners/server.ts"],
];

/** What every command says of itself, and how `npm start` refuses a configuration it cannot run. */
describe("the commands", () => {
  it.each(COMMANDS)(
    "%s answers --help with its options, variables and exit codes",
    async (name, tool) => {
      for (const flag of ["--help", "-h"]) {
        const run = await runLocalTool(tool, [flag], bare());
        expect(run.code).toBe(0);
        expect(run.stdout).toContain(`swr-scan-on-push ${name}`);
        expect(run.stdout).toMatch(/^usage: /m);
        expect(run.stdout).toMatch(/^options:\n(?: {2}.*\n)*? {2}-h, --help/m);
        expect(run.stdout).toMatch(/^environment:\n {2}\S/m);
        expect(run.stdout).toMatch(/^exit status:\n {2}0 +\S/m);
        expect(run.stderr).toBe("");
      }
    },
  );

  it.each(COMMANDS)("%s answers --version", async (_, tool) => {
    const run = await runLocalTool(tool, ["--version"], bare());
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`swr-scan-on-push ${VERSION}\n`);
  });

  it("npm start refuses to start with a bad configuration, naming every problem", async () => {
    const run = await runLocalTool(
      "runners/server.ts",
      [],
      bare({
        HSS_REGION: "nowhere",
        HSS_PROJECT_ID: "0123456789abcdef0123456789abcdef",
        CLOUD_SDK_AK: "AK",
        CLOUD_SDK_SK: "SK",
        WEBHOOK_SECRET: "short",
        HSS_BATCH_SIZE: "zero",
        PORT: "0",
      }),
    );
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    const lines = run.stderr
      .trim()
      .split("\n")
      .map((text) => JSON.parse(text) as Record<string, unknown>);
    for (const line of lines)
      expect(line).toMatchObject({
        time: expect.any(String),
        level: expect.any(String),
        event: expect.any(String),
      });
    const refusal = lines.find((line) => line.event === "configuration_invalid");
    expect(refusal?.level).toBe("error");
    const problems = ((refusal?.problems ?? []) as string[]).join("\n");
    expect(problems).toMatch(/^HSS_REGION: /m);
    expect(problems).toMatch(/^WEBHOOK_SECRET: /m);
    expect(problems).toMatch(/^HSS_BATCH_SIZE: /m);
    expect(run.stderr).not.toContain('"listening"');
    expect(run.stderr).not.toContain("short");
  });

  it("npm start refuses a bad PORT before anything starts", async () => {
    const run = await runLocalTool("runners/server.ts", [], bare({ PORT: "http" }));
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/"event":"configuration_invalid".*PORT: must be a port number/);
    expect(run.stderr).not.toContain("embedded HSS emulator");
  });

  it("npm start -- --port listens on that port; an unknown flag is refused with the help", async () => {
    const port = await freePort();
    // PORT says otherwise: the flag wins.
    const run = startServerProcess({ PORT: "0" }, ["--port", String(port)]);
    try {
      expect(await run.url()).toBe(`http://127.0.0.1:${port}`);
    } finally {
      run.stop();
    }
    const unknown = await runLocalTool("runners/server.ts", ["--prot", "9000"], bare());
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^unknown option --prot/);
    expect(unknown.stderr).toContain("--port <port>");
  }, 40_000);

  it("npm start names PORT (or --port) when the port is in use", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      const [byVariable, byFlag] = await Promise.all([
        runLocalTool("runners/server.ts", [], bare({ PORT: String(port) }), { timeoutMs: 30_000 }),
        runLocalTool("runners/server.ts", ["--port", String(port)], bare(), { timeoutMs: 30_000 }),
      ]);
      expect(byVariable.code).toBe(2);
      expect(byVariable.stderr).toMatch(
        new RegExp(
          `port ${port} on 127.0.0.1 is in use by another process: choose another with PORT=<port>`,
        ),
      );
      expect(byFlag.code).toBe(2);
      expect(byFlag.stderr).toMatch(/choose another with --port <port>/);
    } finally {
      taken.close();
    }
  }, 40_000);
});
