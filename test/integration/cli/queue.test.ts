import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  emulatorEnvironment,
  type HssEmulator,
  startHssEmulator,
} from "../../../src/emulator/hss-emulator";
import { scanKey } from "../../../src/images/scan-target";
import { InstanceUrls } from "../../../src/instance-urls";
import { createLogger } from "../../../src/log";
import { RedisScanQueue } from "../../../src/queue/redis-queue";
import { QueueUnavailableError } from "../../../src/queue/scan-queue";
import { runLocalTool } from "../../support/local-tool";
import { type RedisServer, startRedis } from "../../support/redis-server";

/** The function's Redis queue, opened as the function opens it, to set up what a test needs. */
const openQueue = (url: string) =>
  new RedisScanQueue({
    url,
    callsPerMinute: 4,
    windowMs: 61_000,
    timeoutMs: 1000,
    unavailable: (message) => new QueueUnavailableError(message),
  });

function queueCommand(env: Record<string, string>, ...args: string[]) {
  return runLocalTool("cli/queue.ts", args, { PATH: process.env.PATH, ...env });
}

describe("npm run queue", () => {
  let redis: RedisServer;
  let emulator: HssEmulator;
  let env: Record<string, string>;
  beforeAll(async () => {
    redis = await startRedis();
    emulator = await startHssEmulator();
    env = { ...emulatorEnvironment(emulator), SCAN_QUEUE: redis.url, LOG_LEVEL: "error" };
  });
  afterAll(async () => {
    await emulator.close();
    await redis.close();
  });

  it("shows each enterprise instance's instance_url form and where it came from, and a retired scan API", async () => {
    // Prepare: one instance's form learned from HSS, another's not; batch-scan marked retired
    const queue = openQueue(redis.url);
    const swr = {
      instancesByHost: { "a.example.com": { id: "inst-a" }, "b.example.com": { id: "inst-b" } },
    };
    const log = createLogger({ level: "error", write: () => undefined });
    await new InstanceUrls(queue.watches, swr, log).observe([
      {
        target: {
          namespace: "team",
          image_name: "app",
          image_version: "1",
          instance_id: "inst-a",
          instance_url: "a.example.com/team/app:1",
        },
        item: { instance_url: "https://a.example.com/team/app" },
      },
    ]);
    await queue.watches.keep("retired-api:batch-scan", String(Date.now()), 60_000);
    await queue.close();
    const withInstances = {
      ...env,
      SWR_INSTANCES: JSON.stringify({ "a.example.com": "inst-a", "b.example.com": "inst-b" }),
    };

    // Act
    const text = await queueCommand(withInstances, "status");
    const json = JSON.parse((await queueCommand(withInstances, "status", "--json")).stdout);

    // Assess
    expect(text.stdout).toMatch(
      /^instance inst-a: instance_url https:\/\/a\.example\.com\/\{namespace\}\/\{image\} — learned from HSS at \d{4}-.* \(HSS listed "https:\/\/a\.example\.com\/team\/app"\)$/m,
    );
    expect(text.stdout).toMatch(
      /^instance inst-b: instance_url \{host\}\/\{namespace\}\/\{image\}:\{tag\} — guessed: the pull reference/m,
    );
    expect(text.stdout).toMatch(
      /^scan API: HSS no longer serves batch-scan \(since .*\): sending through scan-task; set HSS_SCAN_API=scan-task$/m,
    );
    expect(json.instance_urls).toEqual([
      expect.objectContaining({ instance_id: "inst-a", source: "learned" }),
      expect.objectContaining({ instance_id: "inst-b", source: "guessed" }),
    ]);
    expect(json.scan_api_retired).toMatchObject({ api: "batch-scan", now_using: "scan-task" });
    const { default: Redis } = await import("ioredis");
    const admin = new Redis(redis.url);
    await admin.flushdb();
    await admin.quit();
  });

  it("shows, flushes and retries the dead letters of the shared queue", async () => {
    // Prepare: two images waiting, one dead-lettered with HSS's error
    const queue = openQueue(redis.url);
    const scan = (tag: string) => {
      const target = { namespace: "team", image_name: "app", image_version: tag };
      return {
        id: scanKey("private_image", target, `sha256:${tag}`),
        image_type: "private_image" as const,
        target,
        digest: `sha256:${tag}`,
      };
    };
    await queue.enqueue([scan("bad"), scan("1"), scan("2")], 60_000);
    const claim = await queue.claim(1, 10_000);
    if (!claim) throw new Error("expected a claim");
    await queue.deadLetter(claim, {
      http_status: 400,
      error_code: "HSS.0001",
      error_msg: "invalid parameter",
    });
    await queue.close();

    // Act and assess
    const status = await queueCommand(env, "status", "--json");
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      pending: 2,
      claimed: 0,
      dead_lettered: 1,
      calls_in_window: 0,
      calls_per_minute: 4,
      oldest_age_ms: expect.any(Number),
      dead_letters: [{ image: "team/app:bad", error: { error_code: "HSS.0001" } }],
    });

    const text = await queueCommand(env, "status");
    expect(text.stdout).toMatch(
      /^pending 2, claimed 0, watched for results 0, dead-lettered 1 \(kept 14 days\)$/m,
    );
    expect(text.stdout).toMatch(/^queue 0% full: 2 of 20000 images \(MAX_QUEUED_IMAGES\)/m);
    expect(text.stdout).toMatch(/^durability: append-only file on/m);
    expect(text.stdout).toMatch(/dead: team\/app:bad — HSS.0001: invalid parameter/);

    const flushed = await queueCommand(env, "flush");
    expect(flushed.code).toBe(0);
    expect(flushed.stdout).toMatch(
      /^2 image\(s\) submitted in 1 HSS call\(s\), 0 dead-lettered; stopped: empty/,
    );
    expect(emulator.acceptedBatches()).toHaveLength(1);

    const retried = await queueCommand(env, "retry-dead");
    expect(retried.stdout.trim()).toBe("1 dead-lettered image(s) queued again");
    const after = JSON.parse((await queueCommand(env, "status", "--json")).stdout);
    expect(after).toMatchObject({ pending: 1, dead_lettered: 0, calls_in_window: 1 });
  });

  it("explains that an in-process queue cannot be reached, and exits 2", async () => {
    const run = await queueCommand({ ...env, SCAN_QUEUE: "memory" }, "status");
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/lives inside one process/);
  });

  it("exits 1 naming the problem, not the password, when Redis cannot be reached", async () => {
    const run = await queueCommand(
      { ...env, SCAN_QUEUE: "redis://:s3cret-pass@127.0.0.1:1", QUEUE_TIMEOUT_MS: "300" },
      "status",
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/Redis scan queue is unavailable/);
    expect(run.stderr + run.stdout).not.toContain("s3cret-pass");
  });

  it("shows the queue with SCAN_QUEUE alone: no HSS variable needed", async () => {
    const run = await queueCommand(
      { SCAN_QUEUE: redis.url, LOG_LEVEL: "error" },
      "status",
      "--json",
    );
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      pending: expect.any(Number),
      dead_letters: expect.any(Array),
    });
  });

  it("prints its usage for an unknown command", async () => {
    const run = await queueCommand(env, "purge");
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/usage: swr-scan-on-push queue status\|flush\|retry-dead/);
  });
});
