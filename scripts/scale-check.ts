import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { DEFAULT_TIMINGS } from "../src/emulator/emulated-registry";
import {
  emulatorEnvironment,
  HSS_RATE_LIMIT,
  type HssEmulator,
  startHssEmulator,
} from "../src/emulator/hss-emulator";

/**
 * `npm run scale-check [-- 60|600 …]`: how long the follow-up takes to follow a release of many
 * images across many namespaces, with real processes: a real `npm start` (in-process queue), an
 * HSS emulator with HSS's limit (5 calls of each API in a rolling minute), its sync taking 2 s and
 * its scans 4 s, and pushes of images HSS has not synced yet, each pushed to the emulated registry
 * just before its event is delivered:
 * - 60: 60 images in 30 namespaces of one SWR Enterprise instance, pushed within 10 s;
 * - 600: 600 images in 300 namespaces of two instances, pushed within 10 s.
 * For each: seconds from the first push until each image's `scan_finished`, the list calls made
 * (in all, and the most one registry took in one follow-up check, against ⌈images / 200⌉ + 1),
 * sync requests, and calls HSS throttled (429).
 *
 * SCALE_CHECK_ROOT runs another checkout's `npm start` against the same emulator and pushes (to
 * measure an older build); SCALE_CHECK_MINUTES bounds each run (default 8).
 */

const ROOT = process.env.SCALE_CHECK_ROOT ?? join(__dirname, "..");
const TSX = join(__dirname, "..", "node_modules", ".bin", "tsx");
const LIMIT_MS = Number(process.env.SCALE_CHECK_MINUTES ?? 8) * 60_000;
const PUSH_WINDOW_MS = 10_000;
const FLUSH_SECONDS = 5;

interface Scenario {
  images: number;
  namespaces: number;
  instances: number;
}

const SCENARIOS: Record<string, Scenario> = {
  "60": { images: 60, namespaces: 30, instances: 1 },
  "600": { images: 600, namespaces: 300, instances: 2 },
};

interface Image {
  host: string;
  instance: string;
  namespace: string;
  name: string;
  tag: string;
}

/** The scenario's images: namespaces spread over the instances, images over the namespaces. */
function imagesOf(scenario: Scenario): Image[] {
  return Array.from({ length: scenario.images }, (_, i) => {
    const namespace = i % scenario.namespaces;
    const instance = namespace % scenario.instances;
    return {
      host: `swr-ee-${instance}.example.com`,
      instance: `scale-instance-${instance}`,
      namespace: `team-${namespace}`,
      name: `svc-${Math.floor(i / scenario.namespaces)}`,
      tag: `1.0.${i}`,
    };
  });
}

const imageKey = (image: Pick<Image, "namespace" | "name" | "tag">) =>
  `${image.namespace}/${image.name}:${image.tag}`;

/** `npm start`, its stderr read as JSON lines. */
function startServer(env: Record<string, string>) {
  const lines: Array<Record<string, unknown>> = [];
  const child: ChildProcess = spawn(TSX, ["src/runners/server.ts"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let buffered = "";
  let listening: (url: string) => void = () => {};
  const url = new Promise<string>((resolve) => {
    listening = resolve;
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    buffered += chunk.toString("utf8");
    const parts = buffered.split("\n");
    buffered = parts.pop() ?? "";
    for (const part of parts) {
      const found = /listening on (http:\/\/[\d.:]+)/.exec(part);
      if (found?.[1]) listening(found[1]);
      if (!part.startsWith("{")) continue;
      try {
        lines.push(JSON.parse(part) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    }
  });
  return { child, lines, url };
}

function pushEvent(image: Image) {
  return {
    type: "PUSH_ARTIFACT",
    occur_at: Math.floor(Date.now() / 1000),
    event_data: {
      resources: [
        {
          digest: `sha256:${imageKey(image)}`,
          tag: image.tag,
          resource_url: `${image.host}/${image.namespace}/${image.name}:${image.tag}`,
        },
      ],
      repository: {
        name: image.name,
        namespace: image.namespace,
        repo_full_name: `${image.namespace}/${image.name}`,
        repo_type: "private",
      },
    },
  };
}

/** Pushes every image within the push window: to the registry, then its event to `npm start`. */
async function pushAll(emulator: HssEmulator, url: string, images: Image[]) {
  const statuses: number[] = [];
  const gap = PUSH_WINDOW_MS / images.length;
  await Promise.all(
    images.map(async (image, index) => {
      await new Promise((resolve) => setTimeout(resolve, index * gap));
      emulator.push({
        image_type: "instance_image",
        namespace: image.namespace,
        image_name: image.name,
        image_version: image.tag,
        instance_id: image.instance,
        host: image.host,
      });
      const answer = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(pushEvent(image)),
      });
      statuses.push(answer.status);
    }),
  );
  return statuses;
}

/** SCALE_CHECK_VERBOSE=1: every HSS call and the follow-up's decisions, by seconds since the first push. */
function printTimeline(
  started: number,
  calls: Array<{ at: number; path: string; status: unknown; query: unknown }>,
  lines: Array<Record<string, unknown>>,
) {
  const seconds = (at: number) => ((at - started) / 1000).toFixed(1).padStart(6);
  for (const call of calls) {
    process.stderr.write(
      `${seconds(call.at)} ${call.status} ${call.path} ${JSON.stringify(call.query)}\n`,
    );
  }
  for (const line of lines) {
    if (line.event !== "flush_done") continue;
    const at = Date.parse(String(line.time));
    process.stderr.write(
      `${seconds(at)} flush_done ${JSON.stringify({ ...line, time: undefined, request_id: undefined, queue: undefined })}\n`,
    );
  }
}

/** The most list calls one registry took in one follow-up check, and what it was allowed. */
function costPerCheck(lines: Array<Record<string, unknown>>) {
  let worst = { calls: 0, images: 0 };
  let overBound = 0;
  for (const line of lines) {
    if (line.event !== "flush_done") continue;
    const followUp = line.follow_up as
      | { lookups?: Array<{ calls: number; images: number }> }
      | undefined;
    for (const lookup of followUp?.lookups ?? []) {
      if (lookup.calls > worst.calls) worst = lookup;
      if (lookup.calls > Math.ceil(lookup.images / 200) + 1) overBound += 1;
    }
  }
  return { worst, overBound };
}

async function run(name: string, scenario: Scenario) {
  const calledAt: Array<{ at: number; path: string; status: unknown; query: unknown }> = [];
  const emulator = await startHssEmulator({
    rateLimit: HSS_RATE_LIMIT,
    onRequest: (request) =>
      calledAt.push({
        at: Date.now(),
        path: request.path.replace(/^\/v5\/[^/]+/, ""),
        status: request.status,
        query: request.query,
      }),
  });
  const images = imagesOf(scenario);
  const instances = Object.fromEntries(images.map((image) => [image.host, image.instance]));
  const server = startServer({
    ...emulatorEnvironment(emulator),
    PORT: "0",
    WEBHOOK_AUTH: "none",
    SWR_INSTANCES: JSON.stringify(instances),
    FLUSH_INTERVAL_SECONDS: String(FLUSH_SECONDS),
    FOLLOW_UP_INTERVAL_SECONDS: String(FLUSH_SECONDS),
    LOG_LEVEL: "info",
  });
  try {
    const url = await Promise.race([
      server.url,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error("npm start did not listen")), 30_000),
      ),
    ]);
    const started = Date.now();
    const statuses = await pushAll(emulator, url, images);
    const finishedAt = new Map<string, number>();
    const wanted = new Set(images.map(imageKey));
    while (finishedAt.size < wanted.size && Date.now() - started < LIMIT_MS) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      for (const line of server.lines) {
        if (line.event !== "scan_finished") continue;
        const key = String(line.image).split(" ")[0] ?? "";
        if (wanted.has(key) && !finishedAt.has(key)) finishedAt.set(key, Date.now() - started);
      }
    }
    if (process.env.SCALE_CHECK_VERBOSE) printTimeline(started, calledAt, server.lines);
    const times = [...finishedAt.values()].sort((a, b) => a - b);
    const cost = costPerCheck(server.lines);
    const calls = emulator.callsByApi();
    return {
      name,
      scenario,
      accepted: statuses.filter((status) => status === 202).length,
      finished: finishedAt.size,
      lastSeconds: times.length > 0 ? (times[times.length - 1] ?? 0) / 1000 : undefined,
      atTwoMinutes: times.filter((at) => at <= 120_000).length,
      atSixMinutes: times.filter((at) => at <= 360_000).length,
      listCalls: calls["list-images"] ?? 0,
      syncCalls: (calls["sync-task"] ?? 0) + (calls["sync-images"] ?? 0),
      scanCalls: calls["batch-scan"] ?? 0,
      worstCheck: cost.worst,
      checksOverBound: cost.overBound,
      throttled: emulator.throttledCount(),
      deadLettered: server.lines.filter((line) => line.event === "dead_lettered").length,
    };
  } finally {
    server.child.kill();
    await emulator.close();
  }
}

async function main() {
  const chosen = process.argv.slice(2).filter((arg) => arg in SCENARIOS);
  process.stdout.write(
    `emulator: HSS's limit (${HSS_RATE_LIMIT.calls} calls/API/minute), sync ${DEFAULT_TIMINGS.syncMs / 1000} s, scan ${DEFAULT_TIMINGS.scanMs / 1000} s; npm start in ${ROOT}, flush and follow-up every ${FLUSH_SECONDS} s; pushes within ${PUSH_WINDOW_MS / 1000} s\n`,
  );
  for (const name of chosen.length > 0 ? chosen : Object.keys(SCENARIOS)) {
    const scenario = SCENARIOS[name] as Scenario;
    const result = await run(name, scenario);
    process.stdout.write(
      `${[
        `\n${scenario.images} images, ${scenario.namespaces} namespaces, ${scenario.instances} instance(s):`,
        `  answered 202: ${result.accepted}/${scenario.images}`,
        `  scan_finished: ${result.finished}/${scenario.images} (within 2 min: ${result.atTwoMinutes}, within 6 min: ${result.atSixMinutes}); last ${result.lastSeconds ?? "-"} s after the first push`,
        `  list calls: ${result.listCalls}; ${
          result.worstCheck.images > 0
            ? `most by one registry in one check: ${result.worstCheck.calls} for ${result.worstCheck.images} images (allowed ${Math.ceil(result.worstCheck.images / 200) + 1}); checks over the bound: ${result.checksOverBound}`
            : "calls per registry and check: not logged by this build"
        }`,
        `  batch-scan calls: ${result.scanCalls}; sync calls: ${result.syncCalls}; throttled (429): ${result.throttled}; dead letters: ${result.deadLettered}`,
      ].join("\n")}\n`,
    );
  }
}

main().catch((error: Error) => {
  process.stderr.write(`scale-check failed: ${error.message}\n`);
  process.exitCode = 1;
});
