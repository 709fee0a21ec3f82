import {
  emulatorEnvironment,
  type HssEmulator,
  startHssEmulator,
} from "../src/emulator/hss-emulator";
import { startRedis } from "../test/support/redis-server";
import { killServer, type LocalServer, startServer } from "./support/local-server";

/**
 * `npm run burst-check [memory|redis|kill]`: the burst targets, measured the way a CI pipeline
 * meets the product. Real `npm start` processes (the local server, in-process or Redis queue,
 * flushing every FLUSH_INTERVAL_SECONDS) receive HTTP pushes; the HSS emulator enforces HSS's
 * documented limit, 5 calls per API per rolling minute, with APIG's 429. Each scenario takes a
 * minute or two of real time, since that is HSS's window.
 *
 * - memory: 40 pushes of distinct images over 10 s, 8 of them delivered twice, into one process
 *   with SCAN_QUEUE=memory;
 * - redis: the same into two processes sharing one redis-server;
 * - kill: two processes sharing Redis; the first is killed with SIGKILL while its HSS call hangs,
 *   the rest of the pushes go to the second.
 * Targets: every delivery answered 2xx in under 1 s; every image accepted by HSS exactly once
 * within 75 s of the last push (kill: once its lease has expired); zero throttled calls.
 */

const PUSHES = 40;
const SPREAD_MS = 10_000;
const TWICE = 8;
const LIMIT_AFTER_LAST_PUSH_MS = 75_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function pushBody(i: number) {
  const tag = `build-${i}`;
  return JSON.stringify({
    type: "PUSH_ARTIFACT",
    occur_at: Math.floor(Date.now() / 1000),
    event_data: {
      resources: [
        {
          digest: `sha256:${i.toString(16).padStart(64, "0")}`,
          tag,
          resource_url: `swr-ee.example.com/team/service-${i}:${tag}`,
        },
      ],
      repository: {
        name: `service-${i}`,
        namespace: "team",
        repo_full_name: `team/service-${i}`,
      },
    },
  });
}

interface Delivery {
  image: number;
  status: number;
  ms: number;
}

async function deliver(server: LocalServer, image: number): Promise<Delivery> {
  const started = performance.now();
  const response = await fetch(`${server.url}/?instance_id=ee-instance`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: pushBody(image),
  });
  await response.text();
  return { image, status: response.status, ms: performance.now() - started };
}

interface Outcome {
  scenario: string;
  deliveries: Delivery[];
  lastPushAt: number;
  acceptedAt: Map<string, number[]>;
  emulator: HssEmulator;
  note?: string;
}

/** Pushes 40 images over 10 s (8 twice) to `pick(i)` and waits until HSS has them all. */
async function burst(
  scenario: string,
  emulator: HssEmulator,
  pick: (i: number) => LocalServer,
  acceptedAt: Map<string, number[]>,
  beforeFirst?: () => Promise<void>,
): Promise<Outcome> {
  const pending: Array<Promise<Delivery>> = [];
  await beforeFirst?.();
  const start = Date.now();
  for (let i = 0; i < PUSHES; i++) {
    await sleep(Math.max(0, start + (i * SPREAD_MS) / PUSHES - Date.now()));
    pending.push(deliver(pick(i), i));
    // Some senders retry a delivery that already succeeded (a lost answer): send it again.
    if (i < TWICE) setTimeout(() => pending.push(deliver(pick(i + 1), i)), 1000);
  }
  await sleep(1100);
  const deliveries = await Promise.all(pending);
  const lastPushAt = Date.now();
  const until = lastPushAt + 120_000;
  while (acceptedAt.size < PUSHES && Date.now() < until) await sleep(200);
  return { scenario, deliveries, lastPushAt, acceptedAt, emulator };
}

function recorder() {
  const acceptedAt = new Map<string, number[]>();
  return {
    acceptedAt,
    // Batch-scan calls only: the follow-up's list and sync calls have budgets of their own.
    onRequest: (request: { status: number | string; path: string; body: unknown }) => {
      if (request.status !== 200 || !request.path.endsWith("/image/batch-scan")) return;
      const body = request.body as { image_info_list?: Array<{ image_name: string }> };
      for (const image of body.image_info_list ?? []) {
        acceptedAt.set(image.image_name, [...(acceptedAt.get(image.image_name) ?? []), Date.now()]);
      }
    },
  };
}

function serverEnv(emulator: HssEmulator, queue: string): Record<string, string> {
  return {
    ...emulatorEnvironment(emulator),
    WEBHOOK_AUTH: "none",
    SCAN_QUEUE: queue,
  };
}

async function memoryScenario(): Promise<Outcome> {
  const record = recorder();
  const emulator = await startHssEmulator({ onRequest: record.onRequest });
  const server = await startServer(serverEnv(emulator, "memory"));
  try {
    return await burst("memory (one npm start)", emulator, () => server, record.acceptedAt);
  } finally {
    killServer(server);
    await emulator.close();
  }
}

async function redisScenario(kill: boolean): Promise<Outcome> {
  const record = recorder();
  const emulator = await startHssEmulator({ onRequest: record.onRequest });
  const redis = await startRedis();
  const a = await startServer(serverEnv(emulator, redis.url));
  const b = await startServer(serverEnv(emulator, redis.url));
  let note: string | undefined;
  try {
    if (!kill) {
      return await burst(
        "redis (two npm start, one redis-server)",
        emulator,
        (i) => (i % 2 ? a : b),
        record.acceptedAt,
      );
    }
    const outcome = await burst(
      "kill (SIGKILL mid-call, lease expiry)",
      emulator,
      // A's delivery of image 0 got no answer (A died): its sender delivers it again, to B.
      () => b,
      record.acceptedAt,
      async () => {
        // The first call hangs; the instance that made it is killed while it waits.
        emulator.failNext({ kind: "hang" });
        const first = deliver(a, 0).catch(() => undefined);
        const until = Date.now() + 10_000;
        while (emulator.received.length === 0 && Date.now() < until) await sleep(20);
        killServer(a);
        await first;
        note = `instance A killed ${new Date().toISOString()} holding image 0`;
      },
    );
    return { ...outcome, note };
  } finally {
    killServer(a);
    killServer(b);
    await redis.close();
    await emulator.close();
  }
}

function report(outcome: Outcome): boolean {
  const answered = outcome.deliveries.filter((d) => d.status >= 200 && d.status < 300).length;
  const slowest = Math.max(...outcome.deliveries.map((d) => d.ms));
  const onceEach = [...outcome.acceptedAt.values()].every((times) => times.length === 1);
  const lastAccepted = Math.max(...[...outcome.acceptedAt.values()].flat());
  const afterLastPush = lastAccepted - outcome.lastPushAt;
  const calls = outcome.emulator.callsByApi()["batch-scan"] ?? 0;
  const others = Object.entries(outcome.emulator.callsByApi())
    .filter(([api]) => api !== "batch-scan")
    .map(([api, count]) => `${api} ${count}`)
    .join(", ");
  const throttled = outcome.emulator.throttledCount();
  const checks: Array<[string, boolean]> = [
    [
      `${answered}/${outcome.deliveries.length} deliveries answered 2xx, slowest ${slowest.toFixed(0)} ms`,
      answered === outcome.deliveries.length && slowest < 1000,
    ],
    [
      `${outcome.acceptedAt.size}/${PUSHES} images accepted by HSS, ${onceEach ? "each exactly once" : "SOME MORE THAN ONCE"}`,
      outcome.acceptedAt.size === PUSHES && onceEach,
    ],
    [
      `last image accepted ${(afterLastPush / 1000).toFixed(1)} s after the last push`,
      afterLastPush <= LIMIT_AFTER_LAST_PUSH_MS,
    ],
    [
      `${calls} accepted batch-scan calls (follow-up: ${others || "none"}), ${throttled} throttled`,
      throttled === 0,
    ],
  ];
  process.stdout.write(`\n${outcome.scenario}${outcome.note ? ` — ${outcome.note}` : ""}\n`);
  for (const [line, ok] of checks) process.stdout.write(`  ${ok ? "ok  " : "FAIL"} ${line}\n`);
  return checks.every(([, ok]) => ok);
}

async function main() {
  const wanted = process.argv.slice(2);
  const run = (name: string) => wanted.length === 0 || wanted.includes(name);
  process.stdout.write(
    `swr-scan-on-push burst check — ${PUSHES} pushes over ${SPREAD_MS / 1000} s, ${TWICE} delivered twice, HSS limit 5 calls/min\n`,
  );
  let ok = true;
  if (run("memory")) ok = report(await memoryScenario()) && ok;
  if (run("redis")) ok = report(await redisScenario(false)) && ok;
  if (run("kill")) ok = report(await redisScenario(true)) && ok;
  process.exitCode = ok ? 0 : 1;
}

main().catch((error: Error) => {
  process.stderr.write(`burst check failed: ${error.message}\n`);
  process.exitCode = 1;
});
