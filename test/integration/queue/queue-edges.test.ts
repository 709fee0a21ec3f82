import { generate } from "selfsigned";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { checkDeployment } from "../../../src/cli/check-deploy";
import {
  emulatorEnvironment,
  type HssEmulator,
  startHssEmulator,
} from "../../../src/emulator/hss-emulator";
import { createHandler } from "../../../src/handler";
import { createLocalContext } from "../../../src/runners/context";
import { startLocalServer, timerEvent } from "../../../src/runners/server";
import { harborPush, SAMPLE_WEBHOOK_SECRET, tagsPush } from "../../support/fixtures";
import { acceptedTags, flushUntil } from "../../support/harness";
import { runLocalTool } from "../../support/local-tool";
import { type RedisOptions, type RedisServer, startRedis } from "../../support/redis-server";
import { type StartedServer, startServerProcess } from "../../support/start-process";

/**
 * The queue at its edges, against a real redis-server: a Redis that stops answering mid-enqueue,
 * a flood past the bound, a crash of a persistent Redis mid-burst, a Redis without persistence,
 * and TLS. HSS's limit is on in the emulator (5 calls in 2 s), the function's budget 4 in 3 s.
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const push = (...tags: string[]) => tagsPush(tags);

let emulator: HssEmulator;
beforeAll(async () => {
  emulator = await startHssEmulator({ rateLimit: { calls: 5, windowMs: 2000 } });
});
afterAll(() => emulator.close());

const servers: RedisServer[] = [];
const handlers: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const handler of handlers.splice(0)) await handler.close();
  for (const server of servers.splice(0)) await server.close();
  emulator.reset();
});

async function redisServer(options: RedisOptions = {}) {
  const server = await startRedis(options);
  servers.push(server);
  return server;
}

function instance(queue: string, env: Record<string, string> = {}) {
  const logs: string[] = [];
  const handler = createHandler({
    env: {
      ...emulatorEnvironment(emulator),
      WEBHOOK_SECRET: SAMPLE_WEBHOOK_SECRET,
      SCAN_QUEUE: queue,
      HSS_RATE_WINDOW_SECONDS: "3",
      FOLLOW_UP: "false",
      ...env,
    },
    writeLog: (line) => logs.push(line),
  });
  handlers.push(handler);
  const invoke = (event: unknown) => handler(event, createLocalContext() as never);
  return {
    logs,
    invoke,
    logged: (event: string) =>
      logs.map((line) => JSON.parse(line)).filter((line) => line.event === event),
    http: async (event: unknown) => {
      const answer = (await invoke(event)) as {
        statusCode: number;
        headers: Record<string, string>;
        body: string;
      };
      return { ...answer, body: JSON.parse(answer.body) };
    },
  };
}

/** How many times HSS accepted each tag. */
function acceptedCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const tag of acceptedTags(emulator)) counts.set(tag, (counts.get(tag) ?? 0) + 1);
  return counts;
}

describe("a Redis that stops answering mid-enqueue (SIGSTOP)", () => {
  it.each([
    ["thawed before the enqueue's deadline: Redis queues it late", 1000],
    ["thawed after it: Redis refuses to run it", 4000],
  ])(
    "%s; every image reaches HSS exactly once",
    async (_, pausedMs) => {
      const redis = await redisServer();
      const env = { QUEUE_TIMEOUT_MS: "300" };
      const [a, b] = [instance(redis.url, env), instance(redis.url, env)];
      // Both connected, as warm instances are.
      for (const one of [a, b]) await one.invoke(timerEvent());
      const tags = ["p1", "p2", "p3"];

      redis.pause();
      const answers = await Promise.all([
        a.http(push("p1")),
        b.http(push("p2")),
        a.http(push("p3")),
      ]);
      await sleep(pausedMs);
      redis.resume();

      // Never 202 for what may or may not be queued, and nothing sent directly beside it.
      for (const answer of answers) {
        expect(answer.statusCode).toBe(503);
        expect(answer.headers["retry-after"]).toBe("4");
        expect(answer.body.message).toMatch(/did not answer in time: .* deliver again after 4 s/);
      }
      expect(emulator.acceptedBatches()).toHaveLength(0);
      expect(a.logged("queue_unavailable")[0]).toMatchObject({ fallback: "retry" });

      // The registry delivers again after Retry-After, to either instance.
      await sleep(4000);
      const again = await Promise.all([b.http(push("p1")), a.http(push("p2")), b.http(push("p3"))]);
      for (const answer of again) expect(answer.statusCode).toBe(202);
      await flushUntil([a, b], () => acceptedTags(emulator).length >= 3, 15_000);
      // A few more flushes: nothing goes out a second time.
      for (let i = 0; i < 3; i++) {
        await a.invoke(timerEvent());
        await b.invoke(timerEvent());
      }
      expect(Object.fromEntries(acceptedCounts())).toEqual(
        Object.fromEntries(tags.map((tag) => [tag, 1])),
      );
      expect(emulator.throttledCount()).toBe(0);
    },
    40_000,
  );
});

describe.each(["memory", "redis"])("a flood past MAX_QUEUED_IMAGES (%s queue)", (backend) => {
  it("refuses a delivery that would pass the bound with 503 and Retry-After, taking none of it", async () => {
    const redis = backend === "redis" ? await redisServer() : undefined;
    const one = instance(redis?.url ?? "memory", {
      MAX_QUEUED_IMAGES: "500",
      MAX_IMAGES_PER_DELIVERY: "200",
      HSS_BATCH_SIZE: "10",
      HSS_CALLS_PER_MINUTE: "1",
      HSS_RATE_WINDOW_SECONDS: "60",
    });
    const delivery = (n: number) =>
      push(...Array.from({ length: 200 }, (_, i) => `d${n}-${String(i).padStart(3, "0")}`));
    const memory = async () => {
      if (!redis) return 0;
      const { default: Redis } = await import("ioredis");
      const admin = new Redis(redis.url);
      const info = await admin.info("memory");
      await admin.quit();
      return Number(/^used_memory:(\d+)/m.exec(info)?.[1]);
    };

    const first = await one.http(delivery(1));
    const second = await one.http(delivery(2));
    const atTheBound = await memory();
    const refused = [];
    for (let n = 3; n <= 9; n++) refused.push(await one.http(delivery(n)));
    const status = await one.invoke(timerEvent());

    expect([first.statusCode, second.statusCode]).toEqual([202, 202]);
    // 390 held (10 sent at once); 200 more would make 590 > 500: 9 windows of 10 images.
    for (const answer of refused) {
      expect(answer.statusCode).toBe(503);
      expect(answer.headers["retry-after"]).toBe("540");
      expect(answer.body.message).toMatch(
        /holds 390 images and this delivery would add 200; the limit is MAX_QUEUED_IMAGES=500: nothing of this delivery was queued/,
      );
    }
    expect(one.logged("queue_full")[0]).toMatchObject({
      queued: 390,
      adding: 200,
      max_queued: 500,
    });
    expect(status).toMatchObject({ queue: { pending: 390, claimed: 0, max_queued: 500 } });
    if (redis) expect((await memory()) - atTheBound).toBeLessThan(100_000);
  }, 30_000);
});

describe("a persistent Redis (append-only file) that crashes mid-burst", () => {
  it("loses no image: every one reaches HSS exactly once", async () => {
    const redis = await redisServer({ persistence: "aof" });
    const [a, b] = [instance(redis.url), instance(redis.url)];
    const tags = Array.from({ length: 30 }, (_, i) => `c${i}`);
    const retry: string[] = [];
    const deliver = async (tag: string, index: number) => {
      const answer = await (index % 2 === 0 ? a : b).http(push(tag));
      if (answer.statusCode !== 202) retry.push(tag);
      else expect(answer.statusCode).toBe(202);
    };

    const queued = async () => {
      const { default: Redis } = await import("ioredis");
      const admin = new Redis(redis.url);
      const count = await admin.zcard("{swr-scan-on-push}:queued");
      await admin.quit();
      return count;
    };
    for (const [index, tag] of tags.slice(0, 15).entries()) await deliver(tag, index);
    const beforeCrash = await queued();
    await redis.crash();
    // Killed with images still waiting on the queue (HSS's limit held them): all still there.
    expect(beforeCrash).toBeGreaterThan(0);
    expect(await queued()).toBe(beforeCrash);
    for (const [index, tag] of tags.slice(15).entries()) await deliver(tag, index);
    // What was refused (503) is delivered again, as a registry does after Retry-After.
    for (let round = 0; round < 5 && retry.length > 0; round++) {
      await sleep(3000);
      const pending = retry.splice(0);
      for (const [index, tag] of pending.entries()) await deliver(tag, index);
    }
    await flushUntil([a, b], () => acceptedCounts().size >= 30, 30_000);

    expect(retry).toEqual([]);
    expect([...acceptedCounts().keys()].sort()).toEqual([...tags].sort());
    expect([...acceptedCounts().values()].filter((count) => count !== 1)).toEqual([]);
    expect(emulator.throttledCount()).toBe(0);
  }, 90_000);
});

describe("a Redis without persistence", () => {
  it("is reported before it can lose anything: a warning once per instance, a failed check", async () => {
    const redis = await redisServer({ persistence: "none" });
    const one = instance(redis.url);

    await one.http(push("v1"));
    await one.http(push("v2"));
    const warnings = one.logged("queue_not_durable");

    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      level: "warn",
      persistent: false,
      aof: false,
      rdb_save: "",
      detail: expect.stringMatching(/no persistence .* a restart loses everything queued/),
    });

    const served = await startLocalServer({
      port: 0,
      handler: (event) => one.invoke(event) as Promise<never>,
    });
    try {
      const checks = await checkDeployment({
        url: `${served.url}/?instance_id=inst-1`,
        secret: SAMPLE_WEBHOOK_SECRET,
        header: "authorization",
        event: JSON.parse(Buffer.from(push("probe").body, "base64").toString("utf8")),
      });
      expect(checks).toContainEqual({
        ok: false,
        line: expect.stringMatching(/^queue durability: NOT durable: no persistence/),
      });
    } finally {
      served.server.close();
    }
  });

  it("is reported as durable with the append-only file on", async () => {
    const redis = await redisServer({ persistence: "aof" });
    const one = instance(redis.url);
    await one.http(push("w1"));
    expect(one.logged("queue_not_durable")).toHaveLength(0);
  });
});

describe("rediss:// (TLS)", () => {
  let pems: { cert: string; key: string };
  beforeAll(async () => {
    const made = await generate([{ name: "commonName", value: "localhost" }], {
      keySize: 2048,
      algorithm: "sha256",
      extensions: [
        { name: "basicConstraints", cA: true },
        {
          name: "subjectAltName",
          altNames: [
            { type: 2, value: "localhost" },
            { type: 7, ip: "127.0.0.1" },
          ],
        },
      ],
    });
    pems = { cert: made.cert, key: made.private };
  });

  it("queues through a Redis whose certificate SCAN_QUEUE_CA trusts", async () => {
    const redis = await redisServer({ tls: pems });
    // As a FunctionGraph variable holds it: one line, newlines written as \n.
    const one = instance(redis.url, { SCAN_QUEUE_CA: pems.cert.replaceAll("\n", "\\n") });

    const answer = await one.http(push("t1"));

    expect(redis.url).toMatch(/^rediss:/);
    expect(answer.statusCode).toBe(202);
    expect(answer.body.status).toBe("submitted");
    expect(one.logged("queue_unavailable")).toHaveLength(0);
    expect(acceptedTags(emulator)).toEqual(["t1"]);
  });

  it("does not trust a certificate it was not given, and says why", async () => {
    const redis = await redisServer({ tls: pems });
    const one = instance(redis.url, { QUEUE_TIMEOUT_MS: "500" });

    const answer = await one.http(push("t2"));

    // Never connected: nothing was queued, so the image was sent directly.
    expect(answer.statusCode).toBe(202);
    expect(one.logged("queue_unavailable")[0]).toMatchObject({
      fallback: "direct",
      reason: expect.stringMatching(/certificate/),
    });
  });
});

describe("a delivery larger than the queue's bound (npm start, Redis)", () => {
  let server: StartedServer | undefined;
  afterEach(() => server?.stop());

  it("is answered 413 at once, with the bound and how to split, no Retry-After, nothing queued", async () => {
    // Prepare: a bound of 50 images, and a delivery of 60
    const redis = await redisServer();
    const env = {
      ...emulatorEnvironment(emulator),
      WEBHOOK_SECRET: SAMPLE_WEBHOOK_SECRET,
      SCAN_QUEUE: redis.url,
      MAX_QUEUED_IMAGES: "50",
      MAX_IMAGES_PER_DELIVERY: "50",
    };
    server = startServerProcess(env);
    const url = await server.url();
    const body = harborPush(
      "team/app",
      Array.from({ length: 60 }, (_, i) => ({
        tag: `v${i}`,
        digest: `sha256:${String(i).padStart(64, "0")}`,
        resource_url: `registry.example.com/team/app:v${i}`,
      })),
    );

    // Act: delivered as a registry would, three times
    const answers = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const answer = await fetch(`${url}/?instance_id=inst-1`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: SAMPLE_WEBHOOK_SECRET },
        body: JSON.stringify(body),
      });
      answers.push({
        status: answer.status,
        retryAfter: answer.headers.get("retry-after"),
        body: (await answer.json()) as { message: string },
      });
    }

    // Assess
    for (const answer of answers) {
      expect(answer.status).toBe(413);
      expect(answer.retryAfter).toBeNull();
      expect(answer.body.message).toMatch(
        /^60 images in one delivery; the limit is 50 \(MAX_IMAGES_PER_DELIVERY\): nothing of it was taken.*send the images in deliveries of at most 50$/,
      );
    }
    const status = await runLocalTool("cli/queue.ts", ["status", "--json"], {
      PATH: process.env.PATH,
      SCAN_QUEUE: redis.url,
    });
    expect(JSON.parse(status.stdout)).toMatchObject({ pending: 0, claimed: 0 });
  }, 40_000);

  it("refuses to start with a bound below MAX_IMAGES_PER_DELIVERY, naming both", async () => {
    const run = await runLocalTool(
      "runners/server.ts",
      [],
      {
        PATH: process.env.PATH,
        MAX_QUEUED_IMAGES: "50",
        PORT: "0",
      },
      { timeoutMs: 30_000 },
    );

    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(
      /MAX_QUEUED_IMAGES: must be at least MAX_IMAGES_PER_DELIVERY \(10000\)/,
    );
  });
});
