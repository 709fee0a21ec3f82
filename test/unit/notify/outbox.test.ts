import { describe, expect, it } from "vitest";
import { createLogger } from "../../../src/log";
import { alertKey } from "../../../src/notify/alert";
import type { HttpAnswer, SendContext } from "../../../src/notify/channels/channel";
import { backoffMs, type DeliverySettings, deliverDue } from "../../../src/notify/deliver";
import { memoryOutbox, type OutboxEntry, rateAllowance } from "../../../src/notify/outbox";
import { compileNotify, routeAlert } from "../../../src/notify/routes";
import { sampleAlert } from "../../support/alerts";

/** The outbox's exactly-once keys, the channels' rates, retries and summaries, on an injected clock. */

function entry(
  overrides: Partial<OutboxEntry> & { tag?: string; digest?: string } = {},
): OutboxEntry {
  const alert = sampleAlert({
    tags: [overrides.tag ?? "1.0"],
    digest: overrides.digest ?? `sha256:${"ab".repeat(32)}`,
  });
  return {
    key: alertKey(overrides.route ?? "r", overrides.channel ?? "ding", alert),
    route: "r",
    channel: "ding",
    alert,
    created_at: 0,
    attempts: 0,
    ...overrides,
  };
}

function logCapture() {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({
    level: "debug",
    write: (line: string) => lines.push(JSON.parse(line)),
  });
  return { log, lines, events: (name: string) => lines.filter((line) => line.event === name) };
}

describe("alert keys", () => {
  it("a digest under another tag, or re-scanned with the same findings, has the same key", () => {
    const a = sampleAlert({ tags: ["1.0"] });
    expect(alertKey("r", "c", sampleAlert({ tags: ["latest"] }))).toBe(alertKey("r", "c", a));
    expect(alertKey("r", "c", sampleAlert({ vul_num: 26 }))).not.toBe(alertKey("r", "c", a));
    expect(alertKey("r2", "c", a)).not.toBe(alertKey("r", "c", a));
    expect(alertKey("r", "c2", a)).not.toBe(alertKey("r", "c", a));
    expect(alertKey("r", "c", sampleAlert({ digest: `sha256:${"cd".repeat(32)}` }))).not.toBe(
      alertKey("r", "c", a),
    );
  });
});

describe("the memory outbox", () => {
  it("adds once, merges the tags of a waiting alert, and sends nothing for a key already sent", async () => {
    // Prepare
    let now = 0;
    const outbox = memoryOutbox(() => now);

    // Act
    const first = await outbox.put([entry({ tag: "1.0" })], 0);
    const again = await outbox.put([entry({ tag: "latest" }), entry({ tag: "1.0" })], 0);
    const claimed = await outbox.claim("ding", 10, 60_000);
    await outbox.sent(claimed, 86_400_000);
    now += 1000;
    const afterSent = await outbox.put([entry({ tag: "stable" })], 0);

    // Assert
    expect(first).toEqual({ added: 1, merged: 0, already_sent: 0 });
    expect(again).toEqual({ added: 0, merged: 2, already_sent: 0 });
    expect(claimed.map((item) => item.alert.tags)).toEqual([["1.0", "latest"]]);
    expect(afterSent).toEqual({ added: 0, merged: 0, already_sent: 1 });
    expect(await outbox.counts()).toEqual({ alerts_waiting: 0, alerts_dead: 0 });
  });

  it("a claim is leased: not claimed again until the lease ends (an instance that died)", async () => {
    let now = 0;
    const outbox = memoryOutbox(() => now);
    await outbox.put([entry()], 0);
    expect(await outbox.claim("ding", 10, 120_000)).toHaveLength(1);
    now += 119_000;
    expect(await outbox.claim("ding", 10, 120_000)).toHaveLength(0);
    now += 2_000;
    expect(await outbox.claim("ding", 10, 120_000)).toHaveLength(1);
  });

  it("takes all of a rate or one for a summary, and says when the next slot frees", async () => {
    let now = 0;
    const outbox = memoryOutbox(() => now);
    const rules = [{ limit: 20, windowMs: 60_000 }];
    expect(await outbox.take("c", rules, 15)).toMatchObject({ granted: 15 });
    expect(await outbox.take("c", rules, 10)).toMatchObject({ granted: 1 });
    now += 10_000;
    expect(await outbox.take("c", rules, 4)).toMatchObject({ granted: 4 });
    const none = await outbox.take("c", rules, 1);
    expect(none.granted).toBe(0);
    expect(none.nextAt).toBe(60_001);
  });

  it("rateAllowance honours every rule (Feishu: 100 a minute and 5 a second)", () => {
    const rules = [
      { limit: 100, windowMs: 60_000 },
      { limit: 5, windowMs: 1_000 },
    ];
    const times = [9_500, 9_600, 9_700, 9_800, 9_900];
    expect(rateAllowance(times, rules, 10_000)).toEqual({ allowed: 0, nextAt: 10_501 });
    // (9,600, 10,600] holds three: two more may go.
    expect(rateAllowance(times, rules, 10_600).allowed).toBe(2);
  });
});

describe("routes", () => {
  const channels = {
    ding: { type: "dingtalk" as const, url: "https://oapi.dingtalk.com/robot/send?access_token=t" },
    slack: { type: "slack" as const, url: "https://hooks.slack.com/services/T/B/x" },
    feishu: { type: "feishu" as const, url: "https://open.feishu.cn/open-apis/bot/v2/hook/t" },
  };

  it("the first route that matches decides, unless it says continue", () => {
    const { settings, problems } = compileNotify({
      channels,
      routes: [
        { name: "payments", channels: ["ding"], namespaces: ["pay*"], continue: true },
        { name: "critical", channels: ["slack"], min_severity: "critical" },
        { name: "rest", channels: ["feishu"], min_severity: "medium" },
      ],
      minSeverity: "high",
    });
    expect(problems).toEqual([]);
    const to = (overrides: Parameters<typeof sampleAlert>[0]) =>
      routeAlert(settings.routes, sampleAlert(overrides)).map((target) => target.channel);
    // payments matches and continues; critical (High is HSS's highest) matches and stops.
    expect(to({ namespace: "payments", severity: "High" })).toEqual(["ding", "slack"]);
    expect(to({ namespace: "web", severity: "High" })).toEqual(["slack"]);
    // A route that matches the image decides, even when the findings are below its severity.
    expect(to({ namespace: "web", severity: "Medium" })).toEqual([]);
    expect(to({ namespace: "payments", severity: "Low" })).toEqual([]);
  });

  it("without routes, every channel hears what is at or above NOTIFY_MIN_SEVERITY", () => {
    const { settings } = compileNotify({ channels, minSeverity: "medium" });
    expect(routeAlert(settings.routes, sampleAlert({ severity: "Medium" }))).toHaveLength(3);
    expect(routeAlert(settings.routes, sampleAlert({ severity: "Low" }))).toHaveLength(0);
  });

  it("only_fixed: an image whose findings have no fix is not alerted", () => {
    const { settings } = compileNotify({
      channels,
      routes: [{ channels: ["ding"], only_fixed: true }],
      minSeverity: "high",
    });
    const unfixable = sampleAlert({
      vulnerabilities: sampleAlert().vulnerabilities.map(({ fix: _fix, ...rest }) => rest),
    });
    expect(routeAlert(settings.routes, unfixable)).toEqual([]);
    expect(routeAlert(settings.routes, sampleAlert())).toHaveLength(1);
  });

  it("lists every problem at once, and keeps the older variables as channels", () => {
    const { settings, problems } = compileNotify({
      channels: { ...channels, bad: { type: "wecom", url: "ftp://x" } },
      routes: [
        { channels: ["nope"] },
        { name: "x", channels: ["ding"] },
        { name: "x", channels: ["ding"] },
      ],
      webhookUrl: "https://relay.example.com/hook",
      smnTopic: "urn:smn:cn-north-4:0123:alerts",
      minSeverity: "high",
    });
    expect(problems).toEqual([
      'NOTIFY_CHANNELS bad: "url" must be https (http only to this machine)',
      'NOTIFY_ROUTES route-1: no channel named "nope" (NOTIFY_CHANNELS has ding, slack, feishu, bad, webhook, smn)',
      'NOTIFY_ROUTES: two routes are named "x"',
    ]);
    expect(settings.channels.map((channel) => channel.type)).toContain("smn");
  });
});

describe("delivery", () => {
  const settings: DeliverySettings = {
    channels: [
      {
        name: "ding",
        type: "dingtalk",
        url: "https://oapi.dingtalk.com/robot/send?access_token=t",
      },
    ],
    maxVulnerabilities: 5,
    retryMs: 3_600_000,
    sentTtlMs: 86_400_000,
    leaseMs: 120_000,
    timeoutMs: 5_000,
  };

  function platform(answers: () => HttpAnswer, clock: () => number) {
    const bodies: Array<Record<string, unknown>> = [];
    const context: SendContext = {
      now: clock,
      async post(_url, _headers, body) {
        bodies.push(JSON.parse(body));
        return answers();
      },
    };
    return { bodies, context };
  }
  const ok = (): HttpAnswer => ({ status: 200, headers: {}, body: '{"errcode":0,"errmsg":"ok"}' });

  it("more alerts due than the channel takes go as one summary, the rate never exceeded", async () => {
    // Prepare: 30 alerts due for a robot that takes 20 a minute
    const now = 0;
    const outbox = memoryOutbox(() => now);
    const { log } = logCapture();
    const { bodies, context } = platform(ok, () => now);
    await outbox.put(
      Array.from({ length: 30 }, (_, i) =>
        entry({ digest: `sha256:${String(i).padStart(64, "0")}` }),
      ),
      0,
    );

    // Act
    const report = await deliverDue({
      outbox,
      settings,
      context,
      log,
      deadline: Date.now() + 60_000,
    });

    // Assert
    expect(report.ding).toMatchObject({ sent: 30, summaries: 1 });
    expect(bodies).toHaveLength(1);
    expect(String((bodies[0]?.markdown as { title?: string } | undefined)?.title)).toBe(
      "30 images with findings",
    );
    expect(await outbox.counts()).toEqual({ alerts_waiting: 0, alerts_dead: 0 });
  });

  it("HTTP 200 with an error code is a failure: logged with the platform's code, retried, then delivered", async () => {
    // Prepare
    let now = 0;
    const outbox = memoryOutbox(() => now);
    const { log, events } = logCapture();
    let down = true;
    const { bodies, context } = platform(
      () =>
        down ? { status: 200, headers: {}, body: '{"errcode":-1,"errmsg":"系统繁忙"}' } : ok(),
      () => now,
    );
    await outbox.put([entry()], 0);

    // Act: a pass while it refuses, one before the backoff ends, one after it recovered
    await deliverDue({ outbox, settings, context, log, deadline: Date.now() + 60_000 });
    now += backoffMs(1) - 1;
    await deliverDue({ outbox, settings, context, log, deadline: Date.now() + 60_000 });
    down = false;
    now += 1;
    await deliverDue({ outbox, settings, context, log, deadline: Date.now() + 60_000 });

    // Assert
    expect(events("notify_failed")).toEqual([
      expect.objectContaining({
        channel: "ding",
        code: "-1",
        message: "系统繁忙",
        attempt: 1,
        retry_in_s: 30,
      }),
    ]);
    expect(events("notified")).toHaveLength(1);
    expect(bodies).toHaveLength(2);
    expect(JSON.stringify(events("notify_failed"))).not.toContain("access_token");
  });

  it("gives up after NOTIFY_RETRY_SECONDS and at once on a body the platform never takes", async () => {
    let now = 0;
    const outbox = memoryOutbox(() => now);
    const { log, events } = logCapture();
    const { context } = platform(
      () => ({ status: 200, headers: {}, body: '{"errcode":310000,"errmsg":"sign not match"}' }),
      () => now,
    );
    await outbox.put([entry()], 0);
    for (let pass = 0; pass < 12 && (await outbox.counts()).alerts_waiting > 0; pass++) {
      await deliverDue({ outbox, settings, context, log, deadline: Date.now() + 60_000 });
      now += 16 * 60_000;
    }
    expect(await outbox.counts()).toEqual({ alerts_waiting: 0, alerts_dead: 1 });
    expect(events("notify_failed").at(-1)).toMatchObject({ dead_lettered: true });
    const [dead] = await outbox.dead(10);
    expect(dead?.last_error).toMatchObject({ code: "310000" });
    expect(await outbox.retryDead()).toBe(1);
    expect(await outbox.counts()).toEqual({ alerts_waiting: 1, alerts_dead: 0 });
  });

  it("a 'too fast' blocks the channel for as long as the platform says", async () => {
    let now = 0;
    const outbox = memoryOutbox(() => now);
    const { log } = logCapture();
    const { bodies, context } = platform(
      () => ({ status: 200, headers: {}, body: '{"errcode":130101,"errmsg":"send too fast"}' }),
      () => now,
    );
    await outbox.put([entry()], 0);
    await deliverDue({ outbox, settings, context, log, deadline: Date.now() + 60_000 });
    now += 9 * 60_000;
    await deliverDue({ outbox, settings, context, log, deadline: Date.now() + 60_000 });
    expect(bodies).toHaveLength(1);
    expect(await outbox.blockedFor("ding")).toBe(60_000);
  });
});
