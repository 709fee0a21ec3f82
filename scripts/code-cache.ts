import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Script } from "node:vm";
import { BUNDLE_FILE, CODE_CACHE_DIGEST_BYTES, cacheFileOf } from "../src/bundle-files";
import { emulatorEnvironment, startHssEmulator } from "../src/emulator/hss-emulator";
import { redisServerInstalled, startRedis } from "../test/support/redis-server";

const root = join(__dirname, "..");
/** The deliveries a cold instance most often handles first: what the cache is warmed with. */
const WARM_WITH = ["apig-swr-ee-push.json", "apig-cloudevents-push.json", "eventgrid-batch.json"];
const SECRET = "sample-webhook-secret-change-me";
const SAMPLE_INSTANCES = {
  "registry.example.com": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
  "swr-ee-prod.cn-north-4.myhuaweicloud.com": "1a2b3c4d-5e6f-7081-92a3-b4c5d6e7f809",
  "swr-ee-staging.cn-north-4.myhuaweicloud.com": "2b3c4d5e-6f70-8192-a3b4-c5d6e7f8091a",
};

/**
 * Chat channels and routes as a deployment with notifications sets them, so that reading and
 * checking them (the configuration's field readers, each channel's checks) is in the cache rather
 * than compiled at every cold start of such a deployment. No alert is sent while warming: alerts
 * come from the follow-up, not from a push.
 */
export const SAMPLE_NOTIFICATIONS = {
  NOTIFY_CHANNELS: JSON.stringify({
    team: {
      type: "dingtalk",
      url: "https://oapi.dingtalk.com/robot/send?access_token=sample",
      secret: "SECsample",
    },
    security: { type: "slack", url: "https://hooks.slack.com/services/T0/B0/sample" },
  }),
  NOTIFY_ROUTES: JSON.stringify([
    { name: "security", channels: ["security"], continue: true },
    { name: "team", channels: ["team"], namespaces: ["team-*"], min_severity: "high" },
  ]),
};

/**
 * Writes `scan-on-push.js.cache` beside a built bundle: a fresh Node.js process loads `index.js`
 * (which compiles the bundle without a cache), handles the sample deliveries (`samples`: files of
 * events/, those above by default) against a loopback HSS emulator, configured as above, then
 * saves V8's code cache, which now holds every function those deliveries compiled. The files
 * built apart (`apart`: the Redis backend, zod) are loaded too, and their caches written beside
 * them. One more push goes through a scan queue, as in the recommended deployment: a Redis queue on
 * loopback when `redis-server` is installed, else the in-process one. Measured
 * (docs/performance.md): a cold start with a Redis queue 3.7 ms shorter for the queue's paths in
 * the bundle's cache, 2.7 ms more for the Redis backend's warmed against a server; direct mode
 * pays 0.5 ms for the larger cache. Run with the Node.js that builds; FunctionGraph's Node.js 20
 * shares its V8 major version, and a cache V8 rejects only costs the compile it would have saved.
 */
export async function writeCodeCache(
  outdir: string,
  samples = WARM_WITH,
  apart: readonly string[] = [],
): Promise<void> {
  const emulator = await startHssEmulator({ rateLimit: false });
  // With files apart (the function, not the reference function), one push also goes through a
  // queue: Redis when redis-server is installed (the Redis backend's cache then holds what such a
  // push runs, not only what runs when the file loads), else the in-process queue.
  const redis =
    apart.length > 0 && redisServerInstalled()
      ? await startRedis({ persistence: "none" })
      : undefined;
  try {
    const events = samples.map((name) => readFileSync(join(root, "events", name), "utf8"));
    const script = `
const { writeFileSync } = require("node:fs");
const loader = require(${JSON.stringify(join(outdir, "index.js"))});
const events = ${JSON.stringify(events)}.map((text) => JSON.parse(text));
const context = { getRequestID: () => "code-cache", getRemainingTimeInMilliSeconds: () => 30000 };
(async () => {
  for (const event of events) {
    const answer = await loader.handler(event, context);
    if (answer.statusCode >= 300) throw new Error("a sample delivery answered " + answer.statusCode + ": " + answer.body);
  }
  const queue = ${JSON.stringify(apart.length > 0 ? (redis?.url ?? "memory") : undefined)};
  if (queue) {
    const queued = loader.createHandler({ env: { ...process.env, SCAN_QUEUE: queue } });
    const answer = await queued(events[0], context);
    if (answer.statusCode >= 300) throw new Error("a push through the queue answered " + answer.statusCode + ": " + answer.body);
  }
  for (const file of ${JSON.stringify(apart)}) loader.requireBuilt("./" + file);
  for (const [name, cache] of Object.entries(loader.createCodeCaches())) {
    writeFileSync(require("node:path").join(${JSON.stringify(outdir)}, name), cache);
  }
  process.exit(0);
})().catch((error) => { process.stderr.write(String(error && error.stack || error) + "\\n"); process.exit(1); });
`;
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, ["-e", script], {
        env: {
          PATH: process.env.PATH,
          ...emulatorEnvironment(emulator),
          WEBHOOK_SECRET: SECRET,
          LOG_LEVEL: "error",
          HSS_CALLS_PER_MINUTE: "10000",
          // The registries the sample deliveries name, as a user of SWR Enterprise maps them.
          SWR_INSTANCES: JSON.stringify(SAMPLE_INSTANCES),
          ...SAMPLE_NOTIFICATIONS,
        },
        stdio: ["ignore", "ignore", "pipe"],
      });
      let errors = "";
      child.stderr.on("data", (chunk) => {
        errors += chunk;
      });
      child.on("error", reject);
      child.on("close", (code) =>
        code === 0 ? resolve() : reject(new Error(`writing the code cache failed: ${errors}`)),
      );
    });
  } finally {
    await emulator.close();
    await redis?.close();
  }
}

/**
 * Whether the code caches already in `outdir` are for the files just built (the bundle and
 * `apart`), and this Node.js's V8 takes them. V8's cache is not byte-identical from one build to
 * the next: keeping caches that still fit makes a rebuild of unchanged code give the same zip, so
 * that a deploy of it changes nothing.
 */
export function codeCacheStillFits(outdir: string, apart: readonly string[] = []): boolean {
  return [BUNDLE_FILE, ...apart].every((file) => {
    try {
      const path = join(outdir, file);
      const source = readFileSync(path, "utf8");
      const cache = readFileSync(join(outdir, cacheFileOf(file)));
      const digest = createHash("sha256").update(source).digest();
      if (!cache.subarray(0, CODE_CACHE_DIGEST_BYTES).equals(digest)) return false;
      const script = new Script(source, {
        filename: path,
        cachedData: cache.subarray(CODE_CACHE_DIGEST_BYTES),
      });
      return !script.cachedDataRejected;
    } catch {
      return false;
    }
  });
}
