import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import {
  DEFAULT_TIMINGS,
  EVERY_UNKNOWNS,
  type HssUnknowns,
} from "../src/emulator/emulated-registry";
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
 *
 * `npm run scale-check -- registry`: a registry that already holds 5,000 scanned images, then a
 * burst of 450 new images, then (once those are followed) 300 of them pushed again under new tags
 * (the same digests), against the emulator in each combination of what HSS leaves undefined
 * (HssUnknowns: a sync stamping every image or only new ones; never-scanned images sorted first or
 * last). For each round: images followed to `scan_finished`, the most seconds from an image's push
 * to its result, the list calls of each follow-up check against their documented bound, the most
 * items one listing held, calls HSS throttled, dead letters. SCALE_CHECK_UNKNOWNS=all/last (…)
 * runs one combination.
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

/** `npm start` as every run here starts it: the emulator, no webhook auth, flushes every 5 s. */
function serverEnv(emulator: HssEmulator, instances: Record<string, string>) {
  return {
    ...emulatorEnvironment(emulator),
    PORT: "0",
    WEBHOOK_AUTH: "none",
    SWR_INSTANCES: JSON.stringify(instances),
    FLUSH_INTERVAL_SECONDS: String(FLUSH_SECONDS),
    FOLLOW_UP_INTERVAL_SECONDS: String(FLUSH_SECONDS),
    LOG_LEVEL: "info",
  };
}

/** Its URL, once it listens (30 s at most). */
function listening(server: ReturnType<typeof startServer>): Promise<string> {
  return Promise.race([
    server.url,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error("npm start did not listen")), 30_000),
    ),
  ]);
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
  const server = startServer(serverEnv(emulator, instances));
  try {
    const url = await listening(server);
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
    const cost = checkCosts(server.lines);
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
      cost,
      throttled: emulator.throttledCount(),
      deadLettered: server.lines.filter((line) => line.event === "dead_lettered").length,
    };
  } finally {
    server.child.kill();
    await emulator.close();
  }
}

const SEEDED = Number(process.env.SCALE_CHECK_SEEDED ?? 5000);
const BURST = Number(process.env.SCALE_CHECK_BURST ?? 450);
const REPUSHED = Number(process.env.SCALE_CHECK_REPUSHED ?? 300);
const HOST = "swr-ee-registry.example.com";
const INSTANCE = "registry-instance";

/** A follow-up check's cost for one registry, as `flush_done` logs it. */
interface CheckCost {
  registry: string;
  images: number;
  calls: number;
  finished?: { pages: number; items: number };
  fresh?: { pages: number; items: number };
  exact?: number;
}

/** Every check's cost, and the checks that spent more than their documented bound. */
function checkCosts(lines: Array<Record<string, unknown>>) {
  const costs: CheckCost[] = [];
  for (const line of lines) {
    if (line.event !== "flush_done") continue;
    const followUp = line.follow_up as { lookups?: CheckCost[] } | undefined;
    costs.push(...(followUp?.lookups ?? []));
  }
  const pages = (items: number | undefined) => Math.max(1, Math.ceil((items ?? 0) / 200));
  const bound = (cost: CheckCost) =>
    (cost.finished ? pages(cost.finished.items) : 0) +
    (cost.fresh ? pages(cost.fresh.items) : 0) +
    (cost.exact ?? 0);
  return {
    checks: costs.length,
    overBound: costs.filter((cost) => cost.calls > bound(cost)).length,
    mostCalls: Math.max(0, ...costs.map((cost) => cost.calls)),
    mostFinished: Math.max(0, ...costs.map((cost) => cost.finished?.items ?? 0)),
    mostFresh: Math.max(0, ...costs.map((cost) => cost.fresh?.items ?? 0)),
    mostExact: Math.max(0, ...costs.map((cost) => cost.exact ?? 0)),
  };
}

/** One round: push each image (to the registry, then its event), wait for every result. */
async function round(
  emulator: HssEmulator,
  server: ReturnType<typeof startServer>,
  url: string,
  images: Image[],
  digestOf: (image: Image) => string,
) {
  const pushedAt = new Map<string, number>();
  const statuses: number[] = [];
  // One burst: every push within a second.
  await Promise.all(
    images.map(async (image, index) => {
      await new Promise((resolve) => setTimeout(resolve, (index * 1000) / images.length));
      emulator.push({
        image_type: "instance_image",
        namespace: image.namespace,
        image_name: image.name,
        image_version: image.tag,
        instance_id: INSTANCE,
        host: HOST,
        digest: digestOf(image),
      });
      pushedAt.set(imageKey(image), Date.now());
      const event = pushEvent(image);
      (event.event_data.resources[0] as { digest: string }).digest = digestOf(image);
      const answer = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(event),
      });
      statuses.push(answer.status);
    }),
  );
  const wanted = new Set(images.map(imageKey));
  const took = new Map<string, number>();
  const started = Date.now();
  let seen = 0;
  while (took.size < wanted.size && Date.now() - started < LIMIT_MS) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (; seen < server.lines.length; seen++) {
      const line = server.lines[seen] as Record<string, unknown>;
      if (line.event !== "scan_finished") continue;
      const key = String(line.image).split(" ")[0] ?? "";
      const at = pushedAt.get(key);
      if (wanted.has(key) && at !== undefined && !took.has(key)) took.set(key, Date.now() - at);
    }
  }
  const times = [...took.values()];
  return {
    accepted: statuses.filter((status) => status === 202).length,
    finished: took.size,
    mostSeconds: times.length > 0 ? Math.max(...times) / 1000 : undefined,
    withinFiveMinutes: times.filter((ms) => ms <= 300_000).length,
  };
}

async function registryRun(unknowns: HssUnknowns) {
  const calledAt: Array<{ at: number; path: string; status: unknown; query: unknown }> = [];
  const emulator = await startHssEmulator({
    rateLimit: HSS_RATE_LIMIT,
    unknowns,
    onRequest: (request) =>
      calledAt.push({
        at: Date.now(),
        path: request.path.replace(/^\/v5\/[^/]+/, ""),
        status: request.status,
        query: request.query,
      }),
  });
  const runStarted = Date.now();
  // The registry as HSS already covers it: 5,000 images in 100 namespaces, synced and scanned.
  for (let i = 0; i < SEEDED; i++) {
    emulator.push({
      image_type: "instance_image",
      namespace: `team-${i % 100}`,
      image_name: `svc-${Math.floor(i / 100) % 10}`,
      image_version: `0.9.${i}`,
      instance_id: INSTANCE,
      host: HOST,
      synced: true,
      scanned: true,
    });
  }
  const server = startServer(serverEnv(emulator, { [HOST]: INSTANCE }));
  try {
    const url = await listening(server);
    const burst: Image[] = Array.from({ length: BURST }, (_, i) => ({
      host: HOST,
      instance: INSTANCE,
      namespace: `team-${i % 45}`,
      name: `svc-${Math.floor(i / 45)}`,
      tag: `1.0.${i}`,
    }));
    const digest = (image: Image) => `sha256:${imageKey(image)}`;
    const first = await round(emulator, server, url, burst, digest);
    const linesAfterFirst = server.lines.length;
    // The same digests under new tags (a promotion: 1.0.x → 1.0.x-rc).
    const repushed = burst
      .slice(0, REPUSHED)
      .map((image) => ({ ...image, tag: `${image.tag}-rc` }));
    const second = await round(emulator, server, url, repushed, (image) =>
      digest({ ...image, tag: image.tag.replace(/-rc$/, "") }),
    );
    const calls = emulator.callsByApi();
    if (process.env.SCALE_CHECK_VERBOSE) printTimeline(runStarted, calledAt, server.lines);
    return {
      first,
      second,
      firstCosts: checkCosts(server.lines.slice(0, linesAfterFirst)),
      secondCosts: checkCosts(server.lines.slice(linesAfterFirst)),
      listCalls: calls["list-images"] ?? 0,
      throttled: emulator.throttledCount(),
      deadLettered: server.lines.filter((line) => line.event === "dead_lettered").length,
    };
  } finally {
    server.child.kill();
    await emulator.close();
  }
}

async function registryCheck() {
  const chosen = process.env.SCALE_CHECK_UNKNOWNS;
  const combinations = EVERY_UNKNOWNS.filter(
    (unknowns) => !chosen || chosen === `${unknowns.syncStamps}/${unknowns.neverScanned}`,
  );
  process.stdout.write(
    `scale-check registry, ${new Date().toISOString().slice(0, 10)}: a registry of ${SEEDED} scanned images, a burst of ${BURST} new ones, then ${REPUSHED} of them under new tags; HSS's limit (${HSS_RATE_LIMIT.calls} calls/API/minute), sync ${DEFAULT_TIMINGS.syncMs / 1000} s, scan ${DEFAULT_TIMINGS.scanMs / 1000} s; npm start in ${ROOT}, flush and follow-up every ${FLUSH_SECONDS} s\n`,
  );
  for (const unknowns of combinations) {
    const result = await registryRun(unknowns);
    const describe = (
      name: string,
      total: number,
      outcome: Awaited<ReturnType<typeof round>>,
      costs: ReturnType<typeof checkCosts>,
    ) =>
      `  ${name}: answered 202 ${outcome.accepted}/${total}; scan_finished ${outcome.finished}/${total}, ${outcome.withinFiveMinutes} within 5 min of their push, the slowest ${outcome.mostSeconds ?? "-"} s; ${costs.checks} registry checks, most calls in one ${costs.mostCalls}, over the bound ${costs.overBound}; most items listed: finished ${costs.mostFinished}, new ${costs.mostFresh}; most exact lookups ${costs.mostExact}`;
    process.stdout.write(
      `${[
        `\nsync stamps ${unknowns.syncStamps} images, never-scanned sorted ${unknowns.neverScanned}:`,
        describe(`${BURST} new`, BURST, result.first, result.firstCosts),
        describe(`${REPUSHED} under new tags`, REPUSHED, result.second, result.secondCosts),
        `  list calls: ${result.listCalls}; throttled (429): ${result.throttled}; dead letters: ${result.deadLettered}`,
      ].join("\n")}\n`,
    );
  }
}

async function main() {
  if (process.argv.includes("registry")) return registryCheck();
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
        `  list calls: ${result.listCalls}; ${result.cost.checks} registry checks, most calls in one ${result.cost.mostCalls}, over the bound ${result.cost.overBound}; most items listed: finished ${result.cost.mostFinished}, new ${result.cost.mostFresh}; most exact lookups ${result.cost.mostExact}`,
        `  batch-scan calls: ${result.scanCalls}; sync calls: ${result.syncCalls}; throttled (429): ${result.throttled}; dead letters: ${result.deadLettered}`,
      ].join("\n")}\n`,
    );
  }
}

main().catch((error: Error) => {
  process.stderr.write(`scale-check failed: ${error.message}\n`);
  process.exitCode = 1;
});
