import { spawn } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { parseRegistryPayload } from "../src/formats";
import type { ScanBatch } from "../src/hss/batch-scan-request";
import { emulatorEnvironment, startHssEmulator } from "../src/local/hss-emulator";
import { planPushScans, splitIntoBatches } from "../src/scan-plan";

/**
 * `npm run bench`: measures, on this machine and in one run, what serverless users feel: the cold
 * start of the bundle against bare Node.js, the warm per-event overhead, the mapping throughput
 * of a 10,000-image delivery, peak memory of a cold invocation, and the bundle's size.
 * Run `npm run build` first (npm run bench does).
 */

const root = join(__dirname, "..");
const bundle = join(root, "dist", "index.js");
const COLD_RUNS = Number(process.env.BENCH_COLD_RUNS ?? 25);
const WARM_EVENTS = Number(process.env.BENCH_WARM_EVENTS ?? 2000);
const SECRET = "sample-webhook-secret-change-me";
const pushEvent = readFileSync(join(root, "events", "apig-swr-ee-push.json"), "utf8");

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1) + 0.5))] as number;
};
const fmt = (ms: number) => `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;

interface ProcessRun {
  ms: number;
  output: string;
}

function timeProcess(args: string[], env: NodeJS.ProcessEnv): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "ignore"] });
    let output = "";
    child.stdout.on("data", (chunk) => {
      output += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (code !== 0) reject(new Error(`${args.join(" ").slice(0, 80)} exited ${code}`));
      else resolve({ ms, output });
    });
  });
}

// Loads the bundle and handles one push event, then reports its status and peak RSS.
const coldScript = `
const { handler } = require(${JSON.stringify(bundle)});
handler(${pushEvent.trim()}, { getRequestID: () => "bench", getRemainingTimeInMilliSeconds: () => 30000 })
  .then((answer) => process.stdout.write(JSON.stringify({ status: answer.statusCode, maxRssKb: process.resourceUsage().maxRSS })));
`;

// What the SDK core costs by itself, loaded from node_modules as an unbundled project would.
const coreScript = `require(${JSON.stringify(require.resolve("@huaweicloud/huaweicloud-sdk-core/ClientBuilder"))});`;
const loadOnlyScript = `require(${JSON.stringify(bundle)});`;

async function coldStart(env: NodeJS.ProcessEnv) {
  const bare: number[] = [];
  const cold: number[] = [];
  const loadOnly: number[] = [];
  const core: number[] = [];
  const rss: number[] = [];
  // Interleaved, so that drift in the machine's load affects both series alike.
  for (let i = 0; i < COLD_RUNS + 2; i++) {
    const bareRun = await timeProcess(["-e", ""], env);
    const coldRun = await timeProcess(["-e", coldScript], env);
    const loadRun = await timeProcess(["-e", loadOnlyScript], env);
    const coreRun = await timeProcess(["-e", coreScript], env);
    const result = JSON.parse(coldRun.output) as { status: number; maxRssKb: number };
    if (result.status !== 202) throw new Error(`cold invocation answered ${result.status}`);
    if (i < 2) continue; // warm the file cache first
    bare.push(bareRun.ms);
    cold.push(coldRun.ms);
    loadOnly.push(loadRun.ms);
    core.push(coreRun.ms);
    rss.push(result.maxRssKb / 1024);
  }
  return { bare, cold, loadOnly, core, rss };
}

async function warmOverhead(env: NodeJS.ProcessEnv, emulatorUrl: string) {
  const { createHandler } = require(bundle) as typeof import("../src/handler");
  const context = { getRequestID: () => "bench", getRemainingTimeInMilliSeconds: () => 30000 };
  const measure = async (handler: ReturnType<typeof createHandler>) => {
    const times: number[] = [];
    for (let i = 0; i < WARM_EVENTS; i++) {
      // A new tag per event, so that no event is skipped as already submitted.
      const event = JSON.parse(pushEvent);
      const body = JSON.parse(Buffer.from(event.body, "base64").toString("utf8"));
      body.event_data.resources[0].tag = `1.0.${i}`;
      event.body = Buffer.from(JSON.stringify(body)).toString("base64");
      const started = process.hrtime.bigint();
      const answer = (await handler(event, context as never)) as { statusCode: number };
      times.push(Number(process.hrtime.bigint() - started) / 1e6);
      if (answer.statusCode !== 202)
        throw new Error(`warm invocation answered ${answer.statusCode}`);
    }
    return times.slice(Math.min(100, Math.floor(WARM_EVENTS / 10)));
  };
  const excluded = await measure(
    createHandler({
      env,
      writeLog: () => undefined,
      createSubmitter: () => ({ submitBatchScan: async () => ({ requestId: "local" }) }),
    }),
  );
  const loopback = await measure(
    createHandler({ env: { ...env, HSS_ENDPOINT: emulatorUrl }, writeLog: () => undefined }),
  );
  return { excluded, loopback };
}

function mappingThroughput() {
  const resources = Array.from({ length: 10_000 }, (_, i) => ({
    digest: `sha256:${i.toString(16).padStart(64, "0")}`,
    tag: `build-${i}`,
    resource_url: `registry.example.com/team/backend/service-${i % 50}:build-${i}`,
  }));
  const payload = {
    type: "PUSH_ARTIFACT",
    event_data: {
      resources,
      repository: {
        namespace: "team",
        name: "backend/service",
        repo_full_name: "team/backend/service",
      },
    },
  };
  const swr = { defaultInstance: { id: "instance", url: undefined }, instancesByHost: {} };
  const times: number[] = [];
  let batches: ScanBatch[] = [];
  for (let i = 0; i < 30; i++) {
    const started = process.hrtime.bigint();
    const event = parseRegistryPayload(payload);
    if (event.kind !== "push") throw new Error("expected a push");
    batches = splitIntoBatches(planPushScans(event.images, { swr }), 100);
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return { times: times.slice(5), batches: batches.length };
}

async function main() {
  const emulator = await startHssEmulator();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    ...emulatorEnvironment(emulator),
    WEBHOOK_SECRET: SECRET,
    LOG_LEVEL: "error",
  };
  try {
    const cold = await coldStart(env);
    const warm = await warmOverhead(env, emulator.url);
    const mapping = mappingThroughput();
    const raw = statSync(bundle).size;
    const gzipped = gzipSync(readFileSync(bundle)).length;
    const bareMedian = quantile(cold.bare, 0.5);
    const coldMedian = quantile(cold.cold, 0.5);

    const rows: Array<[string, string, string]> = [
      [
        'bare `node -e ""`',
        `median ${fmt(bareMedian)}`,
        `p10–p90 ${fmt(quantile(cold.bare, 0.1))}–${fmt(quantile(cold.bare, 0.9))}`,
      ],
      [
        "cold start: load bundle + one push to loopback HSS",
        `median ${fmt(coldMedian)}`,
        `p10–p90 ${fmt(quantile(cold.cold, 0.1))}–${fmt(quantile(cold.cold, 0.9))}`,
      ],
      ["cold start ÷ bare Node.js", `${(coldMedian / bareMedian).toFixed(2)}×`, "target ≤ 1.5×"],
      [
        "  of which: load the bundle only",
        `median ${fmt(quantile(cold.loadOnly, 0.5))}`,
        `${(quantile(cold.loadOnly, 0.5) / bareMedian).toFixed(2)}× bare`,
      ],
      [
        "  for comparison: SDK core unbundled",
        `median ${fmt(quantile(cold.core, 0.5))}`,
        `${(quantile(cold.core, 0.5) / bareMedian).toFixed(2)}× bare (require ClientBuilder from node_modules)`,
      ],
      [
        "peak RSS of a cold invocation",
        `median ${quantile(cold.rss, 0.5).toFixed(1)} MB`,
        `max ${Math.max(...cold.rss).toFixed(1)} MB (target < 80 MB)`,
      ],
      [
        "warm event, HSS call excluded",
        `p50 ${fmt(quantile(warm.excluded, 0.5))}`,
        `p99 ${fmt(quantile(warm.excluded, 0.99))}`,
      ],
      [
        "warm event, HSS on loopback",
        `p50 ${fmt(quantile(warm.loopback, 0.5))}`,
        `p99 ${fmt(quantile(warm.loopback, 0.99))}`,
      ],
      [
        "map + batch a 10,000-image push",
        `median ${fmt(quantile(mapping.times, 0.5))}`,
        `${mapping.batches} batches of 100 (target < 50 ms)`,
      ],
      [
        "bundle dist/index.js",
        `${(raw / 1024).toFixed(1)} KiB`,
        `${(gzipped / 1024).toFixed(1)} KiB gzipped`,
      ],
    ];
    const width = Math.max(...rows.map((row) => row[0].length));
    process.stdout.write(
      `swr-scan-on-push benchmark — Node.js ${process.version}, ${COLD_RUNS} cold runs, ${WARM_EVENTS} warm events\n\n`,
    );
    for (const [what, value, spread] of rows) {
      process.stdout.write(`${what.padEnd(width)}  ${value.padEnd(18)}  ${spread}\n`);
    }
  } finally {
    await emulator.close();
  }
}

main().catch((error: Error) => {
  process.stderr.write(`bench failed: ${error.message}\n`);
  process.exitCode = 1;
});
