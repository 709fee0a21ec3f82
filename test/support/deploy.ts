import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, expect } from "vitest";
import { parse, stringify } from "yaml";
import {
  EMULATOR_KEY,
  emulatorDeployEnvironment,
  type FunctionGraphEmulator,
  type FunctionGraphEmulatorOptions,
  startFunctionGraphEmulator,
} from "../../deploy/emulator/functiongraph-emulator";
import { ROOT, type ToolRun } from "./local-tool";

const TSX = join(ROOT, "node_modules", ".bin", "tsx");

export interface SlsRun extends ToolRun {
  /** stdout and stderr together, for what must never appear in either. */
  output: string;
}

/** The deploy parameters of a dedicated-gateway deployment, as a user passes them. */
export const WEBHOOK_SECRET = "whs-0123456789abcdef-deploy-test";
export const REDIS_PASSWORD = "redis-password-deploy-test-42";
export const DEPLOY_PARAMS = [
  "--region",
  "cn-north-4",
  `--param=webhookSecret=${WEBHOOK_SECRET}`,
  "--param=apigInstanceId=0a1b2c3d4e5f4a5b8c9d0e1f2a3b4c5d",
  "--param=apigGroupId=9f8e7d6c5b4a49382716a5b4c3d2e1f0",
];

/**
 * The environment of a deploy against the stand-in: its endpoints and key, a home of its own
 * (so that no credentials file of this machine is read), and nothing else of this process's.
 */
export function deployEnvironment(
  emulator: FunctionGraphEmulator,
  extra: Record<string, string> = {},
): NodeJS.ProcessEnv {
  const home = mkdtempSync(join(tmpdir(), "deploy-home-"));
  return {
    PATH: process.env.PATH,
    HOME: home,
    ...emulatorDeployEnvironment(emulator),
    ...extra,
  };
}

/** The secrets of these tests' deploys, and the stand-in's key. */
export const KNOWN_SECRETS = [WEBHOOK_SECRET, REDIS_PASSWORD, EMULATOR_KEY.ak, EMULATOR_KEY.sk];

/**
 * Runs `npm run sls -- <args>` (the launcher, in its own process) in a service folder, and checks
 * what every run must hold: nothing secret in anything it printed.
 */
export async function sls(
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd = ROOT,
  secrets: readonly string[] = [],
): Promise<SlsRun> {
  const result = await new Promise<SlsRun>((resolve) => {
    execFile(
      TSX,
      [join(ROOT, "deploy", "run.ts"), ...args],
      { cwd, env, timeout: 120_000 },
      (error, stdout, stderr) =>
        resolve({
          code: error ? Number(error.code ?? 1) : 0,
          stdout,
          stderr,
          output: `${stdout}\n${stderr}`,
        }),
    );
  });
  expect(leaks(result.output, [...KNOWN_SECRETS, ...secrets]), result.output).toEqual([]);
  return result;
}

/**
 * One FunctionGraph stand-in for a test file, emptied before each test, with the environment of a
 * deploy against it (a fresh home each time).
 */
export function functionGraphStandIn(options: FunctionGraphEmulatorOptions = {}) {
  const standIn = {} as { fg: FunctionGraphEmulator; env: NodeJS.ProcessEnv };
  beforeAll(async () => {
    standIn.fg = await startFunctionGraphEmulator(options);
  });
  afterAll(() => standIn.fg.close());
  beforeEach(() => {
    standIn.fg.reset();
    standIn.env = deployEnvironment(standIn.fg);
  });
  return standIn;
}

/**
 * A service folder of its own: this repository's serverless.yml, edited, beside links to the
 * deploy tools and the built artifact, for deploys that change what serverless.yml says.
 */
export function serviceCopy(edit: (manifest: Manifest) => void = () => {}): string {
  const folder = mkdtempSync(join(tmpdir(), "service-"));
  const manifest = parse(readFileSync(join(ROOT, "serverless.yml"), "utf8")) as Manifest;
  edit(manifest);
  writeFileSync(join(folder, "serverless.yml"), stringify(manifest));
  symlinkSync(join(ROOT, "deploy"), join(folder, "deploy"));
  mkdirSync(join(folder, "dist"));
  symlinkSync(
    join(ROOT, "dist", "swr-scan-on-push.zip"),
    join(folder, "dist", "swr-scan-on-push.zip"),
  );
  return folder;
}

/** serverless.yml, loosely typed for edits. */
export interface Manifest {
  provider: Record<string, unknown> & {
    environment: Record<string, string>;
    encryptedEnvironment: Record<string, string>;
  };
  functions: Record<
    string,
    Record<string, unknown> & { events: Array<Record<string, Record<string, unknown>>> }
  >;
  [key: string]: unknown;
}

/** The one function of serverless.yml. */
export function theFunction(manifest: Manifest) {
  const [section] = Object.values(manifest.functions);
  if (!section) throw new Error("serverless.yml has no function");
  return section;
}

/** Its event of the given kind (apiGateway, timer). */
export function eventOf(manifest: Manifest, kind: string): Record<string, unknown> {
  const event = theFunction(manifest).events.find((candidate) => kind in candidate)?.[kind];
  if (!event) throw new Error(`serverless.yml has no ${kind} event`);
  return event;
}

/** What must never appear in a deploy's output: the secrets and the signing material. */
export function leaks(output: string, secrets: readonly string[]): string[] {
  return [...secrets, "SDK-HMAC-SHA256", "Signature="].filter(
    (secret) => secret !== "" && output.includes(secret),
  );
}
