import Redis from "ioredis";
import {
  emulatorEnvironment,
  type HssEmulator,
  startHssEmulator,
} from "../src/emulator/hss-emulator";
import { type RedisOptions, type RedisServer, startRedis } from "../test/support/redis-server";
import { killServer, type LocalServer, startServer } from "./support/local-server";

/**
 * `npm run edge-check [slow|flood|restart]`: the queue at its edges, with real processes (real
 * `npm start` servers, a real redis-server, the HSS emulator with HSS's limit of 5 calls per API
 * per minute):
 * - slow: Redis frozen (SIGSTOP) for 3 s while 3 pushes arrive at two servers; the senders deliver
 *   again after Retry-After, as registries do; how often HSS accepted each image;
 * - flood: 9 deliveries of 6,000 images each to one server; what was answered, what Redis holds;
 * - restart: 40 pushes over 10 s to two servers, Redis restarted after the 20th, without
 *   persistence and with the append-only file; what never reached HSS, and what was said first.
 * Takes about four minutes.
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function pushBody(tags: string[]) {
  return JSON.stringify({
    type: "PUSH_ARTIFACT",
    occur_at: Math.floor(Date.now() / 1000),
    event_data: {
      resources: tags.map((tag) => ({
        digest: `sha256:${Buffer.from(tag).toString("hex").padStart(64, "0")}`,
        tag,
        resource_url: `swr-ee.example.com/team/app:${tag}`,
      })),
      repository: { name: "app", namespace: "team", repo_full_name: "team/app" },
    },
  });
}

async function deliver(server: LocalServer, tags: string[]) {
  const response = await fetch(`${server.url}/?instance_id=ee-instance`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: pushBody(tags),
  });
  await response.text();
  return { status: response.status, retryAfter: Number(response.headers.get("retry-after") ?? 0) };
}

/** How many times HSS accepted each tag (batch-scan calls answered 200). */
function acceptedCounts(emulator: HssEmulator): Map<string, number> {
  const counts = new Map<string, number>();
  for (const batch of emulator.acceptedBatches()) {
    for (const image of "image_info_list" in batch ? batch.image_info_list : []) {
      counts.set(image.image_version, (counts.get(image.image_version) ?? 0) + 1);
    }
  }
  return counts;
}

interface Setup {
  emulator: HssEmulator;
  redis: RedisServer;
  servers: LocalServer[];
}

async function withSetup<T>(
  servers: number,
  redisOptions: RedisOptions,
  env: Record<string, string>,
  run: (setup: Setup) => Promise<T>,
): Promise<T> {
  const emulator = await startHssEmulator();
  const redis = await startRedis(redisOptions);
  const started: LocalServer[] = [];
  try {
    for (let i = 0; i < servers; i++) {
      started.push(
        await startServer({
          ...emulatorEnvironment(emulator),
          WEBHOOK_AUTH: "none",
          SCAN_QUEUE: redis.url,
          FOLLOW_UP: "false",
          LOG_LEVEL: "warn",
          ...env,
        }),
      );
    }
    return await run({ emulator, redis, servers: started });
  } finally {
    for (const server of started) killServer(server);
    await redis.close();
    await emulator.close();
  }
}

async function slow(): Promise<string[]> {
  return withSetup(2, {}, {}, async ({ emulator, redis, servers }) => {
    const [a, b] = servers as [LocalServer, LocalServer];
    // Warm: each server's own timer flush (every 5 s) has connected it to Redis.
    await sleep(6000);
    redis.pause();
    const tags = ["s1", "s2", "s3"];
    const answers = await Promise.all([deliver(a, ["s1"]), deliver(b, ["s2"]), deliver(a, ["s3"])]);
    await sleep(3000);
    redis.resume();
    // Only what was not accepted (2xx) is delivered again, after Retry-After, to the other server.
    const wait = Math.max(0, ...answers.map((answer) => answer.retryAfter));
    await sleep(wait * 1000);
    const again = await Promise.all(
      tags.flatMap((tag, i) =>
        (answers[i]?.status ?? 0) >= 300 ? [deliver(i % 2 ? a : b, [tag])] : [],
      ),
    );
    await sleep(15_000);
    const counts = acceptedCounts(emulator);
    return [
      `first answers: ${answers.map((answer) => `${answer.status} (Retry-After ${answer.retryAfter})`).join(", ")}`,
      again.length > 0
        ? `delivered again after ${wait} s: ${again.map((answer) => answer.status).join(", ")}`
        : "none delivered again (all answered 2xx)",
      `HSS accepted: ${tags.map((tag) => `${tag} ×${counts.get(tag) ?? 0}`).join(", ")}; batch-scan calls ${emulator.callsByApi()["batch-scan"] ?? 0}; throttled ${emulator.throttledCount()}`,
    ];
  });
}

async function flood(): Promise<string[]> {
  return withSetup(
    1,
    {},
    { MAX_BODY_BYTES: String(6 * 1024 * 1024) },
    async ({ redis, servers }) => {
      const [server] = servers as [LocalServer];
      const statuses: string[] = [];
      for (let n = 0; n < 9; n++) {
        const tags = Array.from({ length: 6000 }, (_, i) => `f${n}-${i}`);
        const answer = await deliver(server, tags);
        statuses.push(
          answer.retryAfter
            ? `${answer.status} (Retry-After ${answer.retryAfter})`
            : String(answer.status),
        );
      }
      const admin = new Redis(redis.url);
      const held = await admin.zcard("{swr-scan-on-push}:queued");
      const memory = /^used_memory_human:(\S+)/m.exec(await admin.info("memory"))?.[1];
      await admin.quit();
      return [
        `answers: ${statuses.join(", ")}`,
        `Redis holds ${held} images (MAX_QUEUED_IMAGES default 20000), used_memory ${memory}`,
      ];
    },
  );
}

async function restart(persistence: "none" | "aof"): Promise<string[]> {
  return withSetup(2, { persistence }, {}, async ({ emulator, redis, servers }) => {
    const tags = Array.from({ length: 40 }, (_, i) => `r${i}`);
    const retry: string[] = [];
    const started = Date.now();
    for (const [i, tag] of tags.entries()) {
      await sleep(Math.max(0, started + i * 250 - Date.now()));
      if (i === 20) await redis.restart();
      const answer = await deliver(servers[i % 2] as LocalServer, [tag]);
      if (answer.status !== 202) retry.push(tag);
    }
    // Refused deliveries are delivered again, as a registry does after Retry-After.
    for (let round = 0; round < 3 && retry.length > 0; round++) {
      await sleep(20_000);
      const pending = retry.splice(0);
      for (const [i, tag] of pending.entries()) {
        const answer = await deliver(servers[i % 2] as LocalServer, [tag]);
        if (answer.status !== 202) retry.push(tag);
      }
    }
    await sleep(75_000);
    const counts = acceptedCounts(emulator);
    const lost = tags.filter((tag) => !counts.has(tag));
    const warned = servers.flatMap((server) =>
      server.lines.filter((line) => line.event === "queue_not_durable"),
    );
    const firstWarning = warned[0]?.time ? Date.parse(String(warned[0].time)) - started : undefined;
    return [
      `${persistence === "none" ? "no persistence" : "append-only file"}: ${tags.length - lost.length}/40 reached HSS, lost ${lost.length}${lost.length > 0 ? ` (${lost.slice(0, 5).join(", ")}…)` : ""}; more than once: ${[...counts.values()].filter((count) => count > 1).length}; throttled ${emulator.throttledCount()}`,
      warned.length > 0
        ? `queue_not_durable logged by ${warned.length} of 2 servers, the first ${((firstWarning ?? 0) / 1000).toFixed(1)} s after the first push (the restart came at 5 s)`
        : "queue_not_durable not logged",
    ];
  });
}

async function main() {
  const wanted = process.argv.slice(2);
  const run = (name: string) => wanted.length === 0 || wanted.includes(name);
  const say = (title: string, lines: string[]) =>
    process.stdout.write(`\n${title}\n${lines.map((line) => `  ${line}`).join("\n")}\n`);
  if (run("slow")) say("Redis frozen 3 s while 3 pushes arrive at two servers", await slow());
  if (run("flood")) say("9 deliveries of 6,000 images to one server", await flood());
  if (run("restart")) {
    say("Redis restarted mid-burst (40 pushes, two servers)", [
      ...(await restart("none")),
      ...(await restart("aof")),
    ]);
  }
}

main().catch((error: Error) => {
  process.stderr.write(`edge-check failed: ${error.message}\n`);
  process.exitCode = 1;
});
