import { spawn } from "node:child_process";
import { join } from "node:path";
import { DEFAULT_TIMINGS } from "../src/emulator/emulated-registry";
import {
  emulatorEnvironment,
  type HssEmulator,
  startHssEmulator,
} from "../src/emulator/hss-emulator";

/**
 * `npm run follow-check`: measures the follow-up targets against the emulator with HSS's own
 * limit (5 calls of each API in a rolling minute) and its default sync and scan times, with real
 * processes:
 * 1. a real `npm start` gets the push of a tag HSS has not synced yet: how long until its logs say
 *    `scan_finished`, against the emulator's sync + scan time plus one flush period, with
 *    HSS_SCAN_API=batch-scan and scan-task;
 * 2. `npm run scan -- <ref> --wait --fail-on high` for an image with high findings and a clean
 *    one: exit statuses, time, the most calls of one API, and 429s.
 * Takes about a minute. FOLLOW_CHECK_VERBOSE=1 prints the `npm start` logs of part 1.
 */

const ROOT = join(__dirname, "..");
const TSX = join(ROOT, "node_modules", ".bin", "tsx");
const HOST = "swr-ee.example.com";
const INSTANCE = "check-instance";
const FLUSH_SECONDS = 5;

function pushed(emulator: HssEmulator, tag: string) {
  emulator.push({
    image_type: "instance_image",
    namespace: "team",
    image_name: "api",
    image_version: tag,
    instance_id: INSTANCE,
    host: HOST,
  });
}

async function pushToStart(scanApi: "batch-scan" | "scan-task") {
  const emulator = await startHssEmulator();
  const tag = `fresh-${scanApi}`;
  pushed(emulator, tag);
  const child = spawn(TSX, ["src/runners/server.ts"], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      ...emulatorEnvironment(emulator),
      PORT: "0",
      WEBHOOK_AUTH: "none",
      SWR_INSTANCE_ID: INSTANCE,
      HSS_SCAN_API: scanApi,
      FLUSH_INTERVAL_SECONDS: String(FLUSH_SECONDS),
      FOLLOW_UP_INTERVAL_SECONDS: String(FLUSH_SECONDS),
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let output = "";
  const seen = (pattern: RegExp, withinMs: number) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`not seen ${pattern}: ${output.slice(-2000)}`)),
        withinMs,
      );
      const check = () => {
        const match = pattern.exec(output);
        if (!match) return;
        clearTimeout(timer);
        child.stderr?.off("data", check);
        resolve(match[0]);
      };
      child.stderr?.on("data", check);
      check();
    });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
  });
  try {
    const listening = await seen(/listening on http:\/\/[\d.:]+/, 20_000);
    const url = listening.replace("listening on ", "");
    const started = Date.now();
    const answer = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        type: "PUSH_ARTIFACT",
        occur_at: Math.floor(Date.now() / 1000),
        event_data: {
          resources: [{ digest: `sha256:${tag}`, tag, resource_url: `${HOST}/team/api:${tag}` }],
          repository: {
            name: "api",
            namespace: "team",
            repo_full_name: "team/api",
            repo_type: "private",
          },
        },
      }),
    });
    await seen(/"event":"scan_finished"/, 120_000);
    if (process.env.FOLLOW_CHECK_VERBOSE) process.stderr.write(output);
    return {
      status: answer.status,
      seconds: (Date.now() - started) / 1000,
      calls: emulator.callsByApi(),
      throttled: emulator.throttledCount(),
    };
  } finally {
    child.kill();
    await emulator.close();
  }
}

async function scanCommand(tag: string) {
  const emulator = await startHssEmulator();
  pushed(emulator, tag);
  const started = Date.now();
  const code = await new Promise<number>((resolve) => {
    const child = spawn(
      TSX,
      ["src/cli/scan.ts", `${HOST}/team/api:${tag}`, "--wait", "--fail-on", "high"],
      {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH,
          ...emulatorEnvironment(emulator),
          SWR_INSTANCES: JSON.stringify({ [HOST]: INSTANCE }),
        },
        stdio: "ignore",
      },
    );
    child.on("close", (exit) => resolve(exit ?? -1));
  });
  const result = {
    code,
    seconds: (Date.now() - started) / 1000,
    maxCallsOfOneApi: Math.max(...Object.values(emulator.callsByApi())),
    throttled: emulator.throttledCount(),
  };
  await emulator.close();
  return result;
}

async function main() {
  const target = (DEFAULT_TIMINGS.syncMs + DEFAULT_TIMINGS.scanMs) / 1000 + FLUSH_SECONDS;
  process.stdout.write(
    `emulator: HSS's limit (5 calls/API/minute), sync ${DEFAULT_TIMINGS.syncMs / 1000} s, scan ${DEFAULT_TIMINGS.scanMs / 1000} s; flush and follow-up every ${FLUSH_SECONDS} s\n\n`,
  );
  for (const api of ["batch-scan", "scan-task"] as const) {
    const result = await pushToStart(api);
    process.stdout.write(
      `push of an unsynced tag → scan_finished (HSS_SCAN_API=${api}): ${result.seconds.toFixed(1)} s ` +
        `(sync + scan + one flush period = ${target} s); answered ${result.status}; calls ${JSON.stringify(result.calls)}; 429s ${result.throttled}\n`,
    );
  }
  const [high, clean] = await Promise.all([scanCommand("high-1"), scanCommand("clean-1")]);
  for (const [name, result, expected] of [
    ["high findings", high, 1],
    ["clean", clean, 0],
  ] as const) {
    process.stdout.write(
      `npm run scan -- <${name} image> --wait --fail-on high: exit ${result.code} (expected ${expected}) in ${result.seconds.toFixed(1)} s; most calls of one API ${result.maxCallsOfOneApi} (limit 5); 429s ${result.throttled}\n`,
    );
  }
}

main().catch((error: Error) => {
  process.stderr.write(`follow-check failed: ${error.message}\n`);
  process.exitCode = 1;
});
