import { execFile } from "node:child_process";
import { join } from "node:path";
import { EMULATOR_KEY } from "../src/emulator/hss-emulator";
import { startSwrEmulator } from "../src/emulator/swr-emulator";

/**
 * `npm run wire-check [namespaces…]`: the real `npm run wire` against the SWR Enterprise stand-in,
 * for instances of 40 and 300 namespaces (or the sizes given): the time and SWR calls of a first
 * wiring, of a run that finds everything in place, and of a secret rotation, with the default
 * pacing (SWR_CALLS_PER_MINUTE). Loopback only: the times are the command's own, not SWR's.
 */

const ROOT = join(__dirname, "..");
const TSX = join(ROOT, "node_modules", ".bin", "tsx");
const URL = "https://4f2a.apic.cn-north-4.huaweicloudapis.com/swr-scan-on-push";

function wire(env: NodeJS.ProcessEnv): Promise<{ code: number; seconds: number; last: string }> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      TSX,
      ["src/cli/wire.ts", "--instance-id", "ee-check", "--url", URL],
      { cwd: ROOT, env, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout) =>
        resolve({
          code: error ? Number(error.code ?? 1) : 0,
          seconds: (Date.now() - started) / 1000,
          last: stdout.trim().split("\n").at(-1) ?? "",
        }),
    );
  });
}

async function measure(size: number) {
  const swr = await startSwrEmulator();
  for (let i = 0; i < size; i += 1) swr.addNamespace("ee-check", `team-${i}`);
  const env = {
    PATH: process.env.PATH,
    HSS_REGION: "cn-north-4",
    SWR_ENDPOINT: swr.url,
    HSS_PROJECT_ID: swr.projectId,
    CLOUD_SDK_AK: EMULATOR_KEY.ak,
    CLOUD_SDK_SK: EMULATOR_KEY.sk,
    WEBHOOK_SECRET: "wire-check-secret-0123456789",
  };
  const rows: string[] = [];
  for (const [what, extra] of [
    ["first wiring", {}],
    ["again, nothing to do", {}],
    [
      "rotated secret",
      { WEBHOOK_SECRET: "wire-check-rotated-9876543210,wire-check-secret-0123456789" },
    ],
  ] as const) {
    const before = swr.received.length;
    const run = await wire({ ...env, ...extra });
    rows.push(
      `| ${size} namespaces: ${what} | exit ${run.code}, ${run.seconds.toFixed(1)} s, ${swr.received.length - before} SWR calls: ${run.last} |`,
    );
  }
  await swr.close();
  return rows;
}

async function main() {
  const sizes = process.argv
    .slice(2)
    .map(Number)
    .filter((n) => n > 0);
  console.log(`wire-check, ${new Date().toISOString().slice(0, 10)}, Node.js ${process.version}`);
  console.log("| run | result |\n|---|---|");
  for (const size of sizes.length > 0 ? sizes : [40, 300]) {
    for (const row of await measure(size)) console.log(row);
  }
}

main().catch((error: Error) => {
  console.error(`wire-check failed: ${error.message}`);
  process.exitCode = 1;
});
