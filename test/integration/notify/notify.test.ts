import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChatStandIns, startChatStandIns } from "../../../src/emulator/chat-stand-ins";
import { alertKey } from "../../../src/notify/alert";
import type { OutboxEntry } from "../../../src/notify/outbox";
import { RedisScanQueue } from "../../../src/queue/redis-queue";
import { sampleAlert } from "../../support/alerts";
import { tagsPush } from "../../support/fixtures";
import { flushUntil, type Harness, startHarness } from "../../support/harness";
import { runLocalTool } from "../../support/local-tool";
import { type RedisServer, startRedis } from "../../support/redis-server";

/**
 * From a finished scan to the chat: the function, the HSS emulator and the chat platforms'
 * stand-ins, over loopback. The stand-ins check signatures, shapes and rates as the platforms do.
 */

const INSTANCE = "inst-notify";
const HOST = "swr-ee-notify.cn-north-4.myhuaweicloud.com";

const FAST = {
  SCAN_QUEUE: "memory",
  HSS_CALLS_PER_MINUTE: "10000",
  FOLLOW_UP_INTERVAL_SECONDS: "1",
};
const emulator = { timings: { syncMs: 200, scanStartMs: 100, scanMs: 300 } };

/** `namespace/name` pushed with `tags`, all of one digest. */
function pushOf(harness: Harness, repository: string, tags: string[], digest: string) {
  const [namespace, name] = repository.split("/") as [string, string];
  for (const tag of tags) {
    harness.emulator.push({
      image_type: "instance_image",
      namespace,
      image_name: name,
      image_version: tag,
      instance_id: INSTANCE,
      host: HOST,
      synced: true,
    });
  }
  return harness.http(
    tagsPush(tags, { repository, host: HOST, instanceId: INSTANCE, digest: () => digest }),
  );
}

describe("alerts reach the chat their route names, once per digest", () => {
  let chat: ChatStandIns;
  beforeAll(async () => {
    chat = await startChatStandIns();
  });
  afterAll(() => chat.close());

  it("routes, signs, names every tag of the digest, and sends nothing for a later tag of it", async () => {
    // Prepare: DingTalk (signed) for payments, Feishu (signed) for web from Medium up, and
    // Slack hearing every High finding too
    const ding = chat.robot("dingtalk", { signed: true });
    const feishu = chat.robot("feishu", { signed: true });
    const slack = chat.robot("slack");
    const harness = await startHarness(
      {
        ...FAST,
        NOTIFY_CHANNELS: JSON.stringify({
          payments: { type: "dingtalk", url: ding.url, secret: ding.secret },
          web: { type: "feishu", url: feishu.url, secret: feishu.secret },
          security: { type: "slack", url: slack.url },
        }),
        NOTIFY_ROUTES: JSON.stringify([
          { name: "all-high", channels: ["security"], continue: true },
          { name: "payments", channels: ["payments"], namespaces: ["payments*"] },
          { name: "web", channels: ["web"], namespaces: ["web"], min_severity: "medium" },
        ]),
      },
      { emulator },
    );
    try {
      // Act: one digest under two tags, a Medium image in web, then the digest under a third tag
      await pushOf(harness, "payments-eu/api", ["high-1", "high-2"], "sha256:aaa");
      await pushOf(harness, "web/site", ["medium-1"], "sha256:bbb");
      await flushUntil([harness], () => harness.logged("notified").length >= 3, 15_000);
      await pushOf(harness, "payments-eu/api", ["high-3"], "sha256:aaa");
      await flushUntil(
        [harness],
        () => harness.logged("alert_queued").some((line) => line.already_sent === 2),
        15_000,
      );
      await flushUntil([harness], () => false, 1_500);

      // Assert: one message each, signed as each platform checks, the tags named together
      expect(ding.accepted()).toHaveLength(1);
      expect(slack.accepted()).toHaveLength(1);
      expect(feishu.accepted()).toHaveLength(1);
      expect(ding.posts()).toHaveLength(1);
      const dingText = JSON.stringify(ding.accepted()[0]?.body);
      expect(dingText).toContain("payments-eu/api:high-1, high-2");
      expect(dingText).toContain("CVE-");
      expect(JSON.stringify(feishu.accepted()[0]?.body)).toContain("web/site:medium-1");
      expect(JSON.stringify(slack.accepted()[0]?.body)).toContain("payments-eu/api:high-1, high-2");
      expect(harness.logged("notified").map((line) => line.answer)).toEqual(
        expect.arrayContaining(["errcode 0", "code 0", "ok"]),
      );
      // Secrets never in the logs: not the URLs' tokens, not the signing secrets.
      const logs = harness.logs.join("\n");
      for (const secret of [ding.url, feishu.url, slack.url, ding.secret, feishu.secret]) {
        expect(logs).not.toContain(new URL(String(secret), "http://x").pathname.slice(-12));
      }
      expect(logs).not.toContain(String(ding.secret));
    } finally {
      await harness.close();
    }
  });

  it("a platform's HTTP 200 with an error code is notify_failed with its code, and the alert waits", async () => {
    // Prepare
    const ding = chat.robot("dingtalk", { signed: true });
    chat.outage(ding, true);
    const harness = await startHarness(
      {
        ...FAST,
        NOTIFY_CHANNELS: JSON.stringify({
          ops: { type: "dingtalk", url: ding.url, secret: ding.secret },
        }),
      },
      { emulator },
    );
    try {
      // Act
      await pushOf(harness, "ops/tool", ["high-1"], "sha256:ccc");
      await flushUntil([harness], () => harness.logged("notify_failed").length > 0, 15_000);

      // Assert
      expect(harness.logged("notified")).toHaveLength(0);
      expect(harness.logged("notify_failed")[0]).toMatchObject({
        channel: "ops",
        type: "dingtalk",
        code: "-1",
        message: "系统繁忙",
        attempt: 1,
        retry_in_s: 30,
      });
      expect(ding.posts().map((post) => post.answer)).toEqual(["-1"]);
    } finally {
      await harness.close();
    }
  });
});

describe("the outbox in Redis", () => {
  let redis: RedisServer;
  const queues: RedisScanQueue[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    for (const queue of queues) await queue.close();
    await redis.close();
  });
  const open = () => {
    const queue = new RedisScanQueue({
      url: redis.url,
      callsPerMinute: 10,
      windowMs: 61_000,
      timeoutMs: 2_000,
      unavailable: (message) => new Error(message),
    });
    queues.push(queue);
    return queue;
  };
  const entryOf = (tag: string, digest = "sha256:ddd"): OutboxEntry => {
    const alert = sampleAlert({ tags: [tag], digest });
    return {
      key: alertKey("r", "ops", alert),
      route: "r",
      channel: "ops",
      alert,
      created_at: 0,
      attempts: 0,
    };
  };

  it("two instances: one put per key, tags merged, a claim leased, a key sent never put again", async () => {
    // Prepare
    const [a, b] = [open(), open()];

    // Act
    const puts = await Promise.all([
      a.outbox.put([entryOf("1.0")], 0),
      b.outbox.put([entryOf("latest")], 0),
    ]);
    const claimedByA = await a.outbox.claim("ops", 10, 600);
    const claimedByB = await b.outbox.claim("ops", 10, 600);
    await new Promise((resolve) => setTimeout(resolve, 700));
    // A died mid-post: after its lease, B takes the alert.
    const afterLease = await b.outbox.claim("ops", 10, 60_000);
    await b.outbox.sent(afterLease, 60_000);
    const again = await a.outbox.put([entryOf("stable")], 0);

    // Assert
    expect(puts.map((put) => put.added + put.merged)).toEqual([1, 1]);
    expect(claimedByA.map((entry) => entry.alert.tags.sort())).toEqual([["1.0", "latest"]]);
    expect(claimedByB).toEqual([]);
    expect(afterLease).toHaveLength(1);
    expect(again).toEqual({ added: 0, merged: 0, already_sent: 1 });
    expect(await a.outbox.counts()).toEqual({ alerts_waiting: 0, alerts_dead: 0 });
  });

  it("a channel's rate is shared: two instances together never take more than it allows", async () => {
    const [a, b] = [open(), open()];
    const rules = [{ limit: 20, windowMs: 60_000 }];
    const takes = await Promise.all(
      Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).outbox.take("shared", rules, 1)),
    );
    expect(takes.reduce((sum, take) => sum + take.granted, 0)).toBe(20);
    const refused = takes.find((take) => take.granted === 0);
    expect(refused?.nextAt).toBeGreaterThan(Date.now() + 50_000);
  });

  it("dead alerts are kept with their tags and error, and sent again on retry-dead", async () => {
    const queue = open();
    const entry = entryOf("9.9", "sha256:eee");
    await queue.outbox.put([entry], 0);
    const [claimed] = await queue.outbox.claim("ops", 10, 60_000);
    await queue.outbox.bury([
      {
        ...(claimed as OutboxEntry),
        attempts: 3,
        last_error: { code: "310000", message: "sign not match", at: 1 },
      },
    ]);
    const [dead] = await queue.outbox.dead(10);
    expect(dead).toMatchObject({ attempts: 3, last_error: { code: "310000" } });
    expect(dead?.alert.tags).toEqual(["9.9"]);
    expect(await queue.outbox.retryDead()).toBe(1);
    const [back] = await queue.outbox.claim("ops", 10, 60_000);
    expect(back).toMatchObject({ key: entry.key, attempts: 0 });
    expect(back?.alert.tags).toEqual(["9.9"]);
  });
});

describe("notify --test, a real process against the stand-ins", () => {
  let chat: ChatStandIns;
  beforeAll(async () => {
    chat = await startChatStandIns();
  });
  afterAll(() => chat.close());

  it("prints each platform's own answer, and exits 1 when one refuses", async () => {
    // Prepare: every platform, one of them down, one with a wrong signing secret
    const robots = {
      ding: chat.robot("dingtalk", { signed: true }),
      wecom: chat.robot("wecom"),
      feishu: chat.robot("feishu", { signed: true }),
      slack: chat.robot("slack"),
      teams: chat.robot("teams"),
      hook: chat.robot("webhook", { signed: true }),
    };
    chat.outage(robots.wecom, true);
    const channels = {
      ding: { type: "dingtalk", url: robots.ding.url, secret: robots.ding.secret },
      wecom: { type: "wecom", url: robots.wecom.url },
      feishu: { type: "feishu", url: robots.feishu.url, secret: "not-the-secret" },
      slack: { type: "slack", url: robots.slack.url },
      teams: { type: "teams", url: robots.teams.url },
      hook: { type: "webhook", url: robots.hook.url, secret: robots.hook.secret },
    };
    const env = { PATH: process.env.PATH, NOTIFY_CHANNELS: JSON.stringify(channels) };

    // Act
    const all = await runLocalTool("cli/notify.ts", ["--test"], env, { timeoutMs: 60_000 });
    const good = await runLocalTool(
      "cli/notify.ts",
      ["--test", "--channel", "ding", "--channel", "slack", "--json"],
      env,
      { timeoutMs: 60_000 },
    );
    const unknown = await runLocalTool("cli/notify.ts", ["--test", "--channel", "nope"], env, {
      timeoutMs: 60_000,
    });

    // Assert
    expect(all.code).toBe(1);
    expect(all.stdout.trim().split("\n")).toEqual([
      "ding (dingtalk): ok — errcode 0",
      "wecom (wecom): refused — -1: system busy",
      "feishu (feishu): refused — 19021: sign match fail or timestamp is not within one hour from current time",
      "slack (slack): ok — ok",
      "teams (teams): ok — HTTP 202",
      "hook (webhook): ok — HTTP 200",
    ]);
    expect(good.code).toBe(0);
    expect(JSON.parse(good.stdout)).toEqual([
      { channel: "ding", type: "dingtalk", ok: true, answer: "errcode 0" },
      { channel: "slack", type: "slack", ok: true, answer: "ok" },
    ]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("no channel named nope");
    // The sample reached the platforms as each shows it, and no secret was printed.
    expect(robots.teams.accepted()).toHaveLength(1);
    expect(JSON.stringify(robots.ding.accepted()[0]?.body)).toContain(
      "swr-scan-on-push/notify-test",
    );
    expect(all.stdout + all.stderr).not.toContain(String(robots.ding.secret));
  });
});
