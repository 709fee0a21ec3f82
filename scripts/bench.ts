import { spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";
import { BUNDLE_FILE, CODE_CACHE_DIGEST_BYTES, CODE_CACHE_FILE } from "../src/bundle-files";
import { DEFAULT_BATCH_SIZE } from "../src/config";
import {
  emulatorEnvironment,
  type HssEmulator,
  startHssEmulator,
} from "../src/emulator/hss-emulator";
import { parseRegistryPayload } from "../src/formats";
import type { ScanBatch } from "../src/hss/batch-scan-request";
import { timerEvent } from "../src/runners/server";
import { planPushScans, splitIntoBatches } from "../src/scan-plan";
import { redisServerInstalled, startRedis } from "../test/support/redis-server";
import { buildReference } from "./build";
import { SAMPLE_NOTIFICATIONS } from "./code-cache";
import { pairedRatio, quantile } from "./support/statistics";

/**
 * `npm run bench`: measures, on this machine and in one run, what serverless users feel: the cold
 * start of the bundle against bare Node.js, the warm per-event overhead, the mapping throughput
 * of a 10,000-image delivery, peak memory of a cold invocation, and the bundle's size; then, against
 * the emulator with HSS's rate limit on (5 calls a minute, real time), the scan queue: latency from
 * push to HSS call for a lone push and across a burst of 1,000 single-image pushes, HSS calls per 100
 * images, and sustained throughput over two whole windows (BENCH_QUEUE=0 skips this part, which
 * takes about three minutes). Run `npm run build` first (npm run bench does).
 */

const root = join(__dirname, "..");
const bundle = join(root, "dist", "index.js");
const bundleCode = join(root, "dist", BUNDLE_FILE);
const COLD_RUNS = Number(process.env.BENCH_COLD_RUNS ?? 25);
const WARM_EVENTS = Number(process.env.BENCH_WARM_EVENTS ?? 2000);
const SECRET = "sample-webhook-secret-change-me";
const pushEvent = readFileSync(join(root, "events", "apig-swr-ee-push.json"), "utf8");

const fmt = (ms: number) => `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;

const fmtRatio = ({ median, low, high }: ReturnType<typeof pairedRatio>, digits = 2) =>
  `${median.toFixed(digits)}× (95% ${low.toFixed(digits)}–${high.toFixed(digits)})`;

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

// Loads the function and handles one push event, then reports its status, code cache and peak RSS.
const coldScriptOf = (file: string) => `
const loaded = require(${JSON.stringify(file)});
loaded.handler(${pushEvent.trim()}, { getRequestID: () => "bench", getRemainingTimeInMilliSeconds: () => 30000 })
  .then((answer) => process.stdout.write(JSON.stringify({ status: answer.statusCode, codeCache: loaded.codeCache, maxRssKb: process.resourceUsage().maxRSS })));
`;
const coldScript = coldScriptOf(bundle);
/**
 * BENCH_BASELINE=<another build's dist/index.js>: its cold start is measured too, interleaved with
 * this one's, so that a change can be compared on the same machine at the same time.
 */
const baseline = process.env.BENCH_BASELINE;

/**
 * The floor of any function doing this job: Node.js starting, one HMAC-SHA256 and one HTTP POST to
 * the same loopback HSS, answer read. What the function adds is the cold start minus this.
 */
const floorScript = `
const signature = require("node:crypto").createHmac("sha256", process.env.CLOUD_SDK_SK).update("request").digest("hex");
const url = process.env.HSS_ENDPOINT + "/v5/" + process.env.HSS_PROJECT_ID + "/image/batch-scan";
require("node:http").request(url, { method: "POST", headers: { "content-type": "application/json", authorization: signature } }, (answer) => answer.resume()).end("{}");
`;
const loadOnlyScript = `require(${JSON.stringify(bundle)});`;
/**
 * The least any function shipped as this bundle can take: the floor, after the bundle is read,
 * hashed and compiled from its code cache as the loader does, running none of it.
 */
const boundScript = `
const { createHash } = require("node:crypto");
const { readFileSync } = require("node:fs");
const { Script } = require("node:vm");
const bytes = readFileSync(${JSON.stringify(bundleCode)});
const digest = createHash("sha256").update(bytes).digest();
const source = bytes.toString("utf8");
const cache = readFileSync(${JSON.stringify(join(dirname(bundleCode), CODE_CACHE_FILE))});
if (!cache.subarray(0, ${CODE_CACHE_DIGEST_BYTES}).equals(digest)) throw new Error("the code cache is stale");
const script = new Script(source, { filename: ${JSON.stringify(bundleCode)}, cachedData: cache.subarray(${CODE_CACHE_DIGEST_BYTES}) });
if (script.cachedDataRejected) throw new Error("the code cache was rejected");
${floorScript}`;

/** The same build without its code cache, to show what the cache saves. */
function copyWithoutCodeCache(): string {
  const folder = mkdtempSync(join(tmpdir(), "bench-no-cache-"));
  for (const name of readdirSync(dirname(bundle))) {
    if (name !== CODE_CACHE_FILE && statSync(join(dirname(bundle), name)).isFile()) {
      copyFileSync(join(dirname(bundle), name), join(folder, name));
    }
  }
  return join(folder, "index.js");
}

type ColdSeries =
  | "bare"
  | "floor"
  | "cold"
  | "noCache"
  | "loadOnly"
  | "bound"
  | "reference"
  | "withChannels"
  | "baselineCold";

/** What a series' process wrote, checked: each function answered 202, from its code cache. */
function checkColdRun(series: ColdSeries, output: string): void {
  if (!["cold", "reference", "withChannels", "baselineCold"].includes(series)) return;
  const { status, codeCache } = JSON.parse(output) as { status: number; codeCache: string };
  if (status !== 202) throw new Error(`${series}: the function answered ${output}`);
  if (series === "reference" && codeCache !== "used") {
    throw new Error(`the reference function ran without its code cache: ${output}`);
  }
}

async function coldStart(env: NodeJS.ProcessEnv) {
  const noCacheBundle = copyWithoutCodeCache();
  // The least a function doing this job can be, shipped as this one is (scripts/build.ts).
  const referenceFolder = mkdtempSync(join(tmpdir(), "bench-reference-"));
  await buildReference(referenceFolder);
  const series: Array<[ColdSeries, string, NodeJS.ProcessEnv]> = [
    ["bare", "", env],
    ["floor", floorScript, env],
    ["cold", coldScript, env],
    ["noCache", coldScriptOf(noCacheBundle), env],
    ["loadOnly", loadOnlyScript, env],
    ["bound", boundScript, env],
    ["reference", coldScriptOf(join(referenceFolder, "index.js")), env],
    // A deployment with chat channels reads and checks them at every cold start.
    ["withChannels", coldScript, { ...env, ...SAMPLE_NOTIFICATIONS }],
    ...(baseline
      ? [["baselineCold", coldScriptOf(baseline), env] as [ColdSeries, string, NodeJS.ProcessEnv]]
      : []),
  ];
  const times = Object.fromEntries(series.map(([name]) => [name, [] as number[]])) as Record<
    ColdSeries,
    number[]
  >;
  const rss: number[] = [];
  const codeCache = new Set<string>();
  // Interleaved, so that drift in the machine's load affects every series alike, in an order
  // that turns by one each round, so that no series always runs after the same one (the paired
  // ratios would hold that order's effect).
  for (let i = 0; i < COLD_RUNS + 2; i++) {
    for (let k = 0; k < series.length; k++) {
      const [name, script, runEnv] = series[(i + k) % series.length] as (typeof series)[number];
      const run = await timeProcess(["-e", script], runEnv);
      checkColdRun(name, run.output);
      if (name === "cold") {
        const result = JSON.parse(run.output) as { codeCache: string; maxRssKb: number };
        codeCache.add(result.codeCache);
        if (i >= 2) rss.push(result.maxRssKb / 1024);
      }
      if (i >= 2) times[name].push(run.ms); // the first two rounds warm the file cache
    }
  }
  return { ...times, baselineCold: times.baselineCold ?? [], rss, codeCache: [...codeCache] };
}

/**
 * Cold starts with a Redis queue (SCAN_QUEUE: a real redis-server on loopback, when one is
 * installed), this build's and the baseline's interleaved: each loads the Redis backend (a file
 * of its own) and connects before it queues its push. Each push names a new tag, so that none is
 * skipped as already queued.
 */
async function redisColdStart(env: NodeJS.ProcessEnv) {
  if (!redisServerInstalled()) return undefined;
  const redis = await startRedis({ persistence: "none" });
  const script = (file: string) => `
const loaded = require(${JSON.stringify(file)});
const event = ${pushEvent.trim()};
const body = JSON.parse(Buffer.from(event.body, "base64").toString("utf8"));
body.event_data.resources[0].tag = "cold-" + process.pid;
event.body = Buffer.from(JSON.stringify(body)).toString("base64");
loaded.handler(event, { getRequestID: () => "bench", getRemainingTimeInMilliSeconds: () => 30000 })
  .then((answer) => { process.stdout.write(JSON.stringify({ status: answer.statusCode })); process.exit(0); });
`;
  const queued = { ...env, SCAN_QUEUE: redis.url };
  const cold: number[] = [];
  const baselineCold: number[] = [];
  try {
    for (let i = 0; i < COLD_RUNS + 2; i++) {
      // With a baseline, each runs first in every other round, so that the order's effect cancels.
      const files: Array<[number[], string]> = [
        [cold, bundle],
        ...(baseline ? [[baselineCold, baseline] as [number[], string]] : []),
      ];
      if (i % 2 === 1) files.reverse();
      for (const [times, file] of files) {
        const run = await timeProcess(["-e", script(file)], queued);
        const { status } = JSON.parse(run.output) as { status: number };
        if (status >= 300) throw new Error(`a cold start with a Redis queue answered ${status}`);
        if (i >= 2) times.push(run.ms); // the first two rounds warm the file cache
      }
    }
  } finally {
    await redis.close();
  }
  return { cold, baselineCold };
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
      createCaller: () => ({ call: async () => ({ requestId: "local", body: undefined }) }),
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
    batches = splitIntoBatches(planPushScans(event.images, { swr }), DEFAULT_BATCH_SIZE);
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return { times: times.slice(5), batches: batches.length };
}

/** Per image (its name, or its tag in the `many` repository): when HSS accepted it. */
function acceptanceRecorder() {
  const acceptedAt = new Map<string, number>();
  let calls = 0;
  return {
    acceptedAt,
    calls: () => calls,
    // Batch-scan calls only: the follow-up's list and sync calls have budgets of their own.
    onRequest: (request: { status: number | string; path: string; body: unknown }) => {
      if (request.status !== 200 || !request.path.endsWith("/image/batch-scan")) return;
      calls += 1;
      const body = request.body as {
        image_info_list?: Array<{ image_name: string; image_version: string }>;
      };
      for (const image of body.image_info_list ?? []) {
        acceptedAt.set(
          image.image_name === "many" ? image.image_version : image.image_name,
          Date.now(),
        );
      }
    },
  };
}

function queueHandler(emulator: HssEmulator) {
  const { createHandler } = require(bundle) as typeof import("../src/handler");
  const handler = createHandler({
    env: {
      ...emulatorEnvironment(emulator),
      WEBHOOK_SECRET: SECRET,
      SCAN_QUEUE: "memory",
      LOG_LEVEL: "error",
    },
    writeLog: () => undefined,
  });
  const context = { getRequestID: () => "bench", getRemainingTimeInMilliSeconds: () => 30000 };
  return {
    /** One delivery; one image per name, or one repository with a tag per name. */
    push: (names: string[]) => {
      const event = JSON.parse(pushEvent);
      const body = JSON.parse(Buffer.from(event.body, "base64").toString("utf8"));
      const repository = names.length === 1 ? (names[0] as string) : "many";
      body.event_data.repository = {
        namespace: "bench",
        name: repository,
        repo_full_name: `bench/${repository}`,
      };
      body.event_data.resources = names.map((name) => {
        const tag = names.length === 1 ? "1.0" : name;
        return {
          tag,
          digest: `sha256:${name}`,
          resource_url: `swr-ee.example.com/bench/${repository}:${tag}`,
        };
      });
      event.body = Buffer.from(JSON.stringify(body)).toString("base64");
      return handler(event, context as never) as Promise<{ statusCode: number }>;
    },
    flush: () => handler(timerEvent(), context as never),
  };
}

async function flushUntil(flush: () => Promise<unknown>, done: () => boolean, untilMs: number) {
  while (!done() && Date.now() < untilMs) {
    await flush();
    if (!done()) await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function queueBench() {
  // A lone push, three times, each on a fresh instance and emulator: push → HSS call.
  const lone: number[] = [];
  for (let i = 0; i < 3; i++) {
    const record = acceptanceRecorder();
    const emulator = await startHssEmulator({ onRequest: record.onRequest });
    const { push } = queueHandler(emulator);
    const started = Date.now();
    await push([`lone-${i}`]);
    lone.push((record.acceptedAt.get(`lone-${i}`) ?? Number.NaN) - started);
    await emulator.close();
  }

  // A burst of 1,000 single-image pushes, as fast as they come, flushed every 250 ms.
  const record = acceptanceRecorder();
  const emulator = await startHssEmulator({ onRequest: record.onRequest });
  const { push, flush } = queueHandler(emulator);
  const pushedAt = new Map<string, number>();
  const burstStart = Date.now();
  for (let i = 0; i < 1000; i++) {
    const name = `image-${i}`;
    pushedAt.set(name, Date.now());
    const answer = await push([name]);
    if (answer.statusCode !== 202) throw new Error(`burst push answered ${answer.statusCode}`);
  }
  const burstPushed = Date.now() - burstStart;
  await flushUntil(flush, () => record.acceptedAt.size >= 1000, Date.now() + 150_000);
  const waits = [...pushedAt].map(([name, at]) => (record.acceptedAt.get(name) ?? Number.NaN) - at);
  const burstDone = Math.max(...record.acceptedAt.values()) - burstStart;
  const burstCalls = record.calls();
  const throttled = emulator.throttledCount();
  await emulator.close();

  // Sustained: 12,288 images queued at once; images accepted in calls made within two windows.
  const sustainedRecord = acceptanceRecorder();
  const sustainedEmulator = await startHssEmulator({ onRequest: sustainedRecord.onRequest });
  const sustained = queueHandler(sustainedEmulator);
  const t0 = Date.now();
  for (let batch = 0; batch < 12; batch++) {
    await sustained.push(Array.from({ length: 1024 }, (_, i) => `s${batch}-${i}`));
  }
  const span = 2 * 61_000;
  await flushUntil(sustained.flush, () => false, t0 + span - 500);
  const inSpan = sustainedRecord.acceptedAt.size;
  const sustainedThrottled = sustainedEmulator.throttledCount();
  await sustainedEmulator.close();

  return {
    lone,
    burstPushed,
    waits,
    burstDone,
    burstCalls,
    throttled: throttled + sustainedThrottled,
    perMinute: (inSpan / span) * 60_000,
    inSpan,
    sustainedCalls: sustainedRecord.calls(),
  };
}

async function main() {
  // Cold and warm runs measure the function, not the rate limit: the emulator's limit is off here.
  const emulator = await startHssEmulator({ rateLimit: false });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    ...emulatorEnvironment(emulator),
    WEBHOOK_SECRET: SECRET,
    LOG_LEVEL: "error",
    // 2,000 warm events from one instance: the function's own budget is raised to match.
    HSS_CALLS_PER_MINUTE: "10000",
  };
  try {
    const cold = await coldStart(env);
    const queued = await redisColdStart(env);
    const warm = await warmOverhead(env, emulator.url);
    const mapping = mappingThroughput();
    const raw = statSync(bundleCode).size;
    const gzipped = gzipSync(readFileSync(bundleCode)).length;
    const cacheSize = statSync(join(dirname(bundleCode), CODE_CACHE_FILE)).size;
    const bareMedian = quantile(cold.bare, 0.5);
    const floorMedian = quantile(cold.floor, 0.5);
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
        "  floor: Node.js + one HMAC + one POST to HSS",
        `median ${fmt(floorMedian)}`,
        `${(floorMedian / bareMedian).toFixed(2)}× bare; the function adds ${fmt(coldMedian - floorMedian)} to it`,
      ],
      [
        "cold start ÷ floor",
        `${(coldMedian / floorMedian).toFixed(2)}×`,
        `target ≤ 1.15×; paired by round: ${fmtRatio(pairedRatio(cold.cold, cold.floor))}`,
      ],
      [
        "  with chat channels configured",
        `median ${fmt(quantile(cold.withChannels, 0.5))}`,
        `${(quantile(cold.withChannels, 0.5) / floorMedian).toFixed(2)}× floor (NOTIFY_CHANNELS and NOTIFY_ROUTES of two channels read and checked)`,
      ],
      ...(queued
        ? ([
            [
              "  with a Redis queue (SCAN_QUEUE)",
              `median ${fmt(quantile(queued.cold, 0.5))}`,
              `${(quantile(queued.cold, 0.5) / floorMedian).toFixed(2)}× floor: loads the Redis backend, connects, queues${baseline ? `; baseline ${fmt(quantile(queued.baselineCold, 0.5))}, this build ÷ baseline ${(quantile(queued.cold, 0.5) / quantile(queued.baselineCold, 0.5)).toFixed(3)}×, paired by round ${fmtRatio(pairedRatio(queued.cold, queued.baselineCold), 3)}` : ""}`,
            ],
          ] as Array<[string, string, string]>)
        : ([["  with a Redis queue", "not measured", "no redis-server installed"]] as Array<
            [string, string, string]
          >)),
      [
        "  least this bundle can take ÷ floor",
        `${(quantile(cold.bound, 0.5) / floorMedian).toFixed(2)}×`,
        "the floor after reading, hashing and compiling the bundle, running none of it",
      ],
      [
        "  reference function ÷ floor",
        `${(quantile(cold.reference, 0.5) / floorMedian).toFixed(2)}×`,
        `median ${fmt(quantile(cold.reference, 0.5))}: reads the push, signs with the SDK core, POSTs; code cache (scripts/reference-function.ts); paired by round: ${fmtRatio(pairedRatio(cold.reference, cold.floor))}`,
      ],
      [
        "cold start ÷ reference function",
        `${(coldMedian / quantile(cold.reference, 0.5)).toFixed(2)}×`,
        `what the product's checks, limits, logs and answers cost at a cold start; paired by round: ${fmtRatio(pairedRatio(cold.cold, cold.reference))}`,
      ],
      [
        "  code cache",
        cold.codeCache.join(", "),
        `without it: median ${fmt(quantile(cold.noCache, 0.5))} (${(quantile(cold.noCache, 0.5) / floorMedian).toFixed(2)}× floor): it saves ${fmt(quantile(cold.noCache, 0.5) - coldMedian)}`,
      ],
      ...(baseline
        ? ([
            [
              "  baseline (BENCH_BASELINE) cold start",
              `median ${fmt(quantile(cold.baselineCold, 0.5))}`,
              `this build ÷ baseline ${(coldMedian / quantile(cold.baselineCold, 0.5)).toFixed(3)}×; paired by round: ${fmtRatio(pairedRatio(cold.cold, cold.baselineCold), 3)}`,
            ],
          ] as Array<[string, string, string]>)
        : []),
      [
        "  of which: load the bundle only",
        `median ${fmt(quantile(cold.loadOnly, 0.5))}`,
        `${(quantile(cold.loadOnly, 0.5) / bareMedian).toFixed(2)}× bare`,
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
        `${mapping.batches} batches of up to ${DEFAULT_BATCH_SIZE} (target < 50 ms)`,
      ],
      [
        `bundle dist/${BUNDLE_FILE}`,
        `${(raw / 1024).toFixed(1)} KiB`,
        `${(gzipped / 1024).toFixed(1)} KiB gzipped; code cache ${(cacheSize / 1024).toFixed(1)} KiB`,
      ],
    ];
    const width = Math.max(...rows.map((row) => row[0].length));
    process.stdout.write(
      `swr-scan-on-push benchmark — Node.js ${process.version}, ${COLD_RUNS} cold runs, ${WARM_EVENTS} warm events\n\n`,
    );
    for (const [what, value, spread] of rows) {
      process.stdout.write(`${what.padEnd(width)}  ${value.padEnd(18)}  ${spread}\n`);
    }
    if (process.env.BENCH_QUEUE !== "0") {
      process.stdout.write(
        "\nscan queue (SCAN_QUEUE=memory) against the emulator with HSS's limit, 5 calls/min:\n",
      );
      const queue = await queueBench();
      const queueRows: Array<[string, string, string]> = [
        [
          "lone push → HSS call",
          `median ${fmt(quantile(queue.lone, 0.5))}`,
          `of ${queue.lone.map((ms) => fmt(ms)).join(", ")}`,
        ],
        [
          "burst of 1,000 single-image pushes",
          `pushed in ${(queue.burstPushed / 1000).toFixed(1)} s`,
          `all accepted ${(queue.burstDone / 1000).toFixed(1)} s after the first push`,
        ],
        [
          "  push → HSS call",
          `p50 ${(quantile(queue.waits, 0.5) / 1000).toFixed(1)} s`,
          `p99 ${(quantile(queue.waits, 0.99) / 1000).toFixed(1)} s, max ${(Math.max(...queue.waits) / 1000).toFixed(1)} s (the tail waits one window)`,
        ],
        [
          "  HSS calls per 100 images",
          (queue.burstCalls / 10).toFixed(2),
          `${queue.burstCalls} calls for 1,000 images`,
        ],
        [
          "sustained throughput",
          `${Math.round(queue.perMinute)} images/min`,
          `${queue.inSpan} images in ${queue.sustainedCalls} calls over two 61 s windows (target ≥ 4,000)`,
        ],
        ["throttled calls", String(queue.throttled), "target 0"],
      ];
      const queueWidth = Math.max(...queueRows.map((row) => row[0].length));
      for (const [what, value, spread] of queueRows) {
        process.stdout.write(`${what.padEnd(queueWidth)}  ${value.padEnd(18)}  ${spread}\n`);
      }
    }
  } finally {
    await emulator.close();
  }
}

main().catch((error: Error) => {
  process.stderr.write(`bench failed: ${error.message}\n`);
  process.exitCode = 1;
});
