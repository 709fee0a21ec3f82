import { exec } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  EMULATOR_KEY,
  type FunctionGraphEmulator,
  startFunctionGraphEmulator,
} from "../../../deploy/emulator/functiongraph-emulator";
import { deployEnvironment, leaks, REDIS_PASSWORD, WEBHOOK_SECRET } from "../../support/deploy";
import { ROOT } from "../../support/local-tool";

/**
 * The documented deploy commands, word for word: each `export` and `npm run` line of the sh
 * blocks of docs/deploy.md, run by a shell in this repository against the FunctionGraph stand-in
 * (its endpoints set as the other deploy tests set them), with each `<placeholder>` replaced by a
 * value. A placeholder this test does not know fails it, so that the guide and this test move
 * together. The README's short version must be made of the same lines.
 */

const guide = readFileSync(join(ROOT, "docs", "deploy.md"), "utf8");
const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const readmeSection = readme.slice(
  readme.indexOf("## Deploy it"),
  readme.indexOf("\n## ", readme.indexOf("## Deploy it") + 1),
);

const PLACEHOLDERS: Record<string, string> = {
  "<AK of the deploying user>": EMULATOR_KEY.ak,
  "<its SK>": EMULATOR_KEY.sk,
  "<webhook secret: 16 or more characters, e.g. from openssl rand -hex 24>": WEBHOOK_SECRET,
  "<gateway instance id>": "0a1b2c3d4e5f4a5b8c9d0e1f2a3b4c5d",
  "<API group id>": "9f8e7d6c5b4a49382716a5b4c3d2e1f0",
  "<Redis password>": REDIS_PASSWORD,
  "<DCS address>": "192.168.0.12",
  "<VPC id>": "3c1f6b2a-7d4e-4a8b-9c0d-1e2f3a4b5c6d",
  "<subnet id>": "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b",
};

/** The shell lines of a text's sh blocks, continuations joined. */
function shellLines(section = guide): string[] {
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1] ?? "");
  return blocks.flatMap((block) => block.replace(/\\\n\s*/g, "").split("\n")).filter(Boolean);
}

function fill(line: string): string {
  const filled = Object.entries(PLACEHOLDERS).reduce(
    (text, [placeholder, value]) => text.split(placeholder).join(value),
    line,
  );
  expect(filled, `a placeholder this test does not know: ${filled}`).not.toMatch(/<[^>]+>/);
  return filled;
}

const lines = shellLines();
const exports = lines.filter((line) => line.startsWith("export "));
const commands = lines.filter((line) => /^npm run (deploy|sls) /.test(line));

let fg: FunctionGraphEmulator;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  fg = await startFunctionGraphEmulator();
  const { HUAWEICLOUD_SDK_AK: _ak, HUAWEICLOUD_SDK_SK: _sk, ...endpoints } = deployEnvironment(fg);
  env = endpoints;
});
afterAll(() => fg.close());

/** Runs one README command in a shell, after the README's exports that come before it. */
function shell(command: string): Promise<{ code: number; output: string }> {
  const before = exports.filter((line) => lines.indexOf(line) < lines.indexOf(command));
  const script = [...before, command].map(fill).join("\n");
  return new Promise((resolve) => {
    exec(
      script,
      { cwd: ROOT, env, shell: "/bin/sh", timeout: 120_000 },
      (error, stdout, stderr) => {
        const output = `${stdout}\n${stderr}`;
        expect(leaks(output, [WEBHOOK_SECRET, REDIS_PASSWORD, EMULATOR_KEY.sk]), output).toEqual(
          [],
        );
        resolve({ code: error ? Number(error.code ?? 1) : 0, output });
      },
    );
  });
}

describe("the documented deploy commands, word for word", { timeout: 60_000 }, () => {
  it("has the README say what the guide says", () => {
    const short = shellLines(readmeSection);
    expect(short.length).toBeGreaterThanOrEqual(4);
    for (const line of short) expect(lines).toContain(line);
  });

  it("builds first, with the commands a fresh clone runs", () => {
    expect(lines).toContain("npm ci && npm run package");
    expect(commands.map((command) => command.split(" -- ")[0])).toEqual([
      "npm run deploy",
      "npm run deploy",
      "npm run sls",
      "npm run sls",
    ]);
  });

  it("deploy creates the function and both triggers; the same command again changes nothing", async () => {
    // Act
    const first = await shell(commands[0] as string);
    const second = await shell(commands[0] as string);

    // Assess
    expect(first.code, first.output).toBe(0);
    const fn = fg.functions().get("swr-scan-on-push");
    expect(fn).toMatchObject({
      runtime: "Node.js20.15",
      handler: "index.handler",
      memory_size: 256,
      timeout: 60,
      xrole: "swr-scan-on-push-hss",
      encrypted_user_data: { WEBHOOK_SECRET },
    });
    expect(
      fg
        .triggers("swr-scan-on-push")
        .map((t) => t.trigger_type_code)
        .sort(),
    ).toEqual(["DEDICATEDGATEWAY", "TIMER"]);
    expect(first.output).toContain("npm run --silent check-deploy -- ");
    expect(second.code, second.output).toBe(0);
    expect(second.output).toContain("nothing changed");
  });

  it("the queue-mode command attaches the VPC and encrypts SCAN_QUEUE", async () => {
    // Act
    const result = await shell(commands[1] as string);

    // Assess
    expect(result.code, result.output).toBe(0);
    const fn = fg.functions().get("swr-scan-on-push");
    expect(fn?.func_vpc?.vpc_id).toBe(PLACEHOLDERS["<VPC id>"]);
    expect(fn?.encrypted_user_data.SCAN_QUEUE).toBe(
      `redis://:${REDIS_PASSWORD}@192.168.0.12:6379/0`,
    );
  });

  it("info prints the trigger's URL, and remove cleans up", async () => {
    // Act
    const info = await shell(commands[2] as string);
    const url = fg.triggers("swr-scan-on-push").find((t) => t.trigger_type_code !== "TIMER")
      ?.event_data.invoke_url as string;
    const removed = await shell(commands[3] as string);

    // Assess
    expect(info.code, info.output).toBe(0);
    expect(info.output).toContain(url);
    expect(removed.code, removed.output).toBe(0);
    expect(fg.functions().size).toBe(0);
    expect(fg.triggers()).toEqual([]);
  });
});
