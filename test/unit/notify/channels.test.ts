import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv from "ajv";
import { describe, expect, it } from "vitest";
import type {
  ChannelSettings,
  HttpAnswer,
  SendContext,
} from "../../../src/notify/channels/channel";
import { CHANNELS, channelModule } from "../../../src/notify/channels/index";
import { sampleAlert } from "../../support/alerts";

/** Each channel: its body, its signing, and what its platform's answers mean (no network). */

/** A context that records the post and answers with `answer`. */
function recording(answer: HttpAnswer, now = 1_700_000_000_123) {
  const posts: Array<{ url: URL; headers: Record<string, string>; body: string }> = [];
  const context: SendContext = {
    now: () => now,
    async post(url, headers, body) {
      posts.push({ url, headers, body });
      return answer;
    },
  };
  return { posts, context };
}

const json = (status: number, body: unknown, headers: HttpAnswer["headers"] = {}): HttpAnswer => ({
  status,
  headers,
  body: JSON.stringify(body),
});
const plain = (status: number, body: string, headers: HttpAnswer["headers"] = {}): HttpAnswer => ({
  status,
  headers,
  body,
});

const SETTINGS: Record<string, ChannelSettings> = {
  dingtalk: {
    name: "ding",
    type: "dingtalk",
    url: "https://oapi.dingtalk.com/robot/send?access_token=tok",
    secret: "SECabc+/=def",
  },
  wecom: {
    name: "wecom",
    type: "wecom",
    url: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
  },
  feishu: {
    name: "feishu",
    type: "feishu",
    url: "https://open.feishu.cn/open-apis/bot/v2/hook/tok",
    secret: "s3cret",
  },
  slack: { name: "slack", type: "slack", url: "https://hooks.slack.com/services/T1/B1/x" },
  teams: {
    name: "teams",
    type: "teams",
    url: "https://prod-01.westus.logic.azure.com/workflows/w/triggers/manual/paths/invoke?api-version=2016-06-01&sig=s",
  },
  webhook: { name: "hook", type: "webhook", url: "https://relay.example.com/alerts" },
  smn: { name: "smn", type: "smn", topic: "urn:smn:cn-north-4:0123abc:alerts" },
};

async function verdictOf(type: keyof typeof SETTINGS, answer: HttpAnswer) {
  const settings = SETTINGS[type] as ChannelSettings;
  const module = channelModule(settings.type);
  const { context } = recording(answer);
  context.publishSmn = async () => answer;
  return module.send(settings, module.render([sampleAlert()], { maxVulnerabilities: 5 }), context);
}

describe("signing", () => {
  it("DingTalk: ms timestamp and the base64 HMAC of `timestamp\\nsecret` in the query, encoded once", async () => {
    // Prepare
    const { posts, context } = recording(json(200, { errcode: 0, errmsg: "ok" }));
    const settings = SETTINGS.dingtalk as ChannelSettings;

    // Act
    await CHANNELS.dingtalk.send(
      settings,
      CHANNELS.dingtalk.render([sampleAlert()], { maxVulnerabilities: 5 }),
      context,
    );

    // Assert
    const url = posts[0]?.url as URL;
    const timestamp = url.searchParams.get("timestamp");
    expect(timestamp).toBe("1700000000123");
    const expected = createHmac("sha256", settings.secret as string)
      .update(`${timestamp}\n${settings.secret}`)
      .digest("base64");
    expect(url.searchParams.get("sign")).toBe(expected);
    // Once-encoded: the raw query carries %2B, %2F, %3D for + / =, never %252B.
    expect(url.search).not.toMatch(/%25/);
    expect(url.searchParams.get("access_token")).toBe("tok");
  });

  it("Feishu: s timestamp and the base64 HMAC keyed by `timestamp\\nsecret` over nothing, in the body", async () => {
    // Prepare
    const { posts, context } = recording(json(200, { code: 0, msg: "success", data: {} }));

    // Act
    await CHANNELS.feishu.send(
      SETTINGS.feishu as ChannelSettings,
      CHANNELS.feishu.render([sampleAlert()], { maxVulnerabilities: 5 }),
      context,
    );

    // Assert
    const body = JSON.parse(posts[0]?.body as string);
    expect(body.timestamp).toBe("1700000000");
    expect(body.sign).toBe(createHmac("sha256", "1700000000\ns3cret").update("").digest("base64"));
    expect(body.msg_type).toBe("interactive");
    expect(posts[0]?.url.search).toBe("");
  });

  it("the generic webhook signs its body with HMAC-SHA256 when given a secret", async () => {
    // Prepare
    const { posts, context } = recording(json(200, {}));

    // Act
    await CHANNELS.webhook.send(
      { ...(SETTINGS.webhook as ChannelSettings), secret: "k" },
      CHANNELS.webhook.render([sampleAlert()], { maxVulnerabilities: 5 }),
      context,
    );

    // Assert
    const post = posts[0];
    expect(post?.headers["x-swr-scan-on-push-signature"]).toBe(
      `sha256=${createHmac("sha256", "k")
        .update(post?.body as string)
        .digest("hex")}`,
    );
  });
});

describe("success is what the platform says", () => {
  it.each([
    ["dingtalk", json(200, { errcode: 0, errmsg: "ok" }), true, "errcode 0"],
    ["dingtalk", json(200, { errcode: 300001, errmsg: "token is not exist" }), false, "300001"],
    ["dingtalk", json(200, { errcode: 310000, errmsg: "sign not match" }), false, "310000"],
    ["dingtalk", plain(200, "<html>proxy</html>"), false, "HTTP 200"],
    ["wecom", json(200, { errcode: 0, errmsg: "ok" }), true, "errcode 0"],
    ["wecom", json(200, { errcode: 93000, errmsg: "invalid webhook url" }), false, "93000"],
    ["feishu", json(200, { code: 0, msg: "success", data: {} }), true, "code 0"],
    ["feishu", json(200, { StatusCode: 0, StatusMessage: "success" }), true, "code 0"],
    ["feishu", json(200, { code: 19021, msg: "sign match fail" }), false, "19021"],
    ["slack", plain(200, "ok"), true, "ok"],
    ["slack", plain(200, '{"ok":true}'), false, "HTTP 200"],
    ["slack", plain(404, "channel_not_found"), false, "channel_not_found"],
    ["teams", plain(202, ""), true, "HTTP 202"],
    [
      "teams",
      json(400, { error: { code: "MissingApiVersionParameter", message: "api-version" } }),
      false,
      "MissingApiVersionParameter",
    ],
    ["smn", json(200, { request_id: "r", message_id: "m-1" }), true, "message_id m-1"],
    ["smn", json(200, { request_id: "r" }), false, "HTTP 200"],
    ["smn", json(403, { error_code: "SMN.0003", error_msg: "no permission" }), false, "SMN.0003"],
    ["webhook", json(204, {}), true, "HTTP 204"],
    ["webhook", json(500, {}), false, "HTTP 500"],
  ] as const)("%s answering %j: ok=%s (%s)", async (type, answer, ok, code) => {
    const verdict = await verdictOf(type, answer);
    expect(verdict.ok).toBe(ok);
    expect(verdict.code).toBe(code);
  });

  it.each([
    ["dingtalk", json(200, { errcode: 130101, errmsg: "send too fast" }), 600_000],
    ["wecom", json(200, { errcode: 45009, errmsg: "api freq out of limit" }), 65_000],
    ["feishu", json(200, { code: 11232, msg: "frequency limited" }), 60_000],
    ["slack", plain(429, "rate_limited", { "retry-after": "7" }), 7_000],
    [
      "teams",
      json(429, { error: { code: "TooManyRequests", message: "" } }, { "retry-after": "3" }),
      3_000,
    ],
  ] as const)("%s's 'too fast' is waited out as long as it says", async (type, answer, waitMs) => {
    const verdict = await verdictOf(type, answer);
    expect(verdict).toMatchObject({ ok: false, fate: "retry", waitMs });
  });

  it.each([
    ["dingtalk", json(200, { errcode: 40035, errmsg: "缺少参数" })],
    ["feishu", json(200, { code: 9499, msg: "Bad Request" })],
    ["slack", plain(400, "invalid_payload")],
    ["teams", json(413, { error: { code: "RequestEntityTooLarge", message: "" } })],
  ] as const)("%s refusing the body itself is never retried", async (type, answer) => {
    const verdict = await verdictOf(type, answer);
    expect(verdict).toMatchObject({ ok: false, fate: "never" });
  });
});

describe("messages", () => {
  const huge = sampleAlert({
    tags: Array.from({ length: 40 }, (_, i) => `release-candidate-${i}-${"x".repeat(40)}`),
    vul_num: 200,
    vulnerabilities: Array.from({ length: 200 }, (_, i) => ({
      id: `CVE-2024-${10000 + i}`,
      severity: "High" as const,
      package: `package-with-a-long-name-${i}`,
      installed: "1.2.3-r4",
      fix: `Upgrade package-with-a-long-name-${i} to 1.2.4 or later; see the advisory for details ${"y".repeat(100)}`,
    })),
  });

  it.each(Object.keys(SETTINGS))(
    "%s: one alert fits the platform's size, the most urgent first, the rest counted",
    (type) => {
      const module = channelModule((SETTINGS[type] as ChannelSettings).type);
      const rendered = module.render([huge], { maxVulnerabilities: 50 });
      const text = JSON.stringify(rendered.body);
      const size =
        type === "wecom"
          ? Buffer.byteLength((rendered.body.markdown as { content: string }).content)
          : type === "smn"
            ? Buffer.byteLength((rendered.body as { message: string }).message)
            : Buffer.byteLength(text);
      expect(size).toBeLessThanOrEqual(module.maxBytes);
      expect(text).toContain("CVE-2024-10000");
      if (type !== "webhook") expect(text).toMatch(/and \d+ more/);
    },
  );

  it.each(Object.keys(SETTINGS))(
    "%s: a summary names as many images as fit and says how many are left",
    (type) => {
      const module = channelModule((SETTINGS[type] as ChannelSettings).type);
      const many = Array.from({ length: 2000 }, (_, i) =>
        sampleAlert({ repository: `service-${i}`, vulnerabilities: [] }),
      );
      const rendered = module.render(many, { maxVulnerabilities: 5 });
      expect(rendered.included).toBeGreaterThan(10);
      expect(rendered.included).toBeLessThan(2000);
      const text = JSON.stringify(rendered.body);
      expect(text).toContain("service-0");
      expect(text).not.toContain(`service-${rendered.included}:`);
      if (type !== "webhook") expect(text).toContain(`${2000 - rendered.included} more`);
    },
  );

  it("Slack: a summary stays within 50 blocks and 3000 characters a section", () => {
    const many = Array.from({ length: 2000 }, (_, i) => sampleAlert({ repository: `s-${i}` }));
    const { body } = CHANNELS.slack.render(many, { maxVulnerabilities: 5 });
    const blocks = body.blocks as Array<{ text?: { text: string } }>;
    expect(blocks.length).toBeLessThanOrEqual(50);
    for (const block of blocks) expect(block.text?.text.length ?? 0).toBeLessThanOrEqual(3000);
  });

  it("names every tag of the digest, its instance and counts per severity", () => {
    const text = JSON.stringify(
      CHANNELS.dingtalk.render([sampleAlert()], { maxVulnerabilities: 3 }).body,
    );
    expect(text).toContain("payments/api:1.4.2, latest");
    expect(text).toContain("inst-1");
    expect(text).toContain("High 3 · Medium 20 · Low 2");
    expect(text).toContain("and 22 more");
  });
});

describe("settings", () => {
  it.each([
    [{ name: "d", type: "dingtalk", url: "https://oapi.dingtalk.com/robot/send" }, /access_token/],
    [
      {
        name: "d",
        type: "dingtalk",
        url: "https://oapi.dingtalk.com/robot/send?access_token=t",
        secret: "abc",
      },
      /starts with SEC/,
    ],
    [
      { name: "w", type: "wecom", url: "http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k" },
      /https/,
    ],
    [
      { name: "l", type: "lark", url: "https://open.feishu.cn/open-apis/bot/v2/hook/t" },
      /"type": "feishu"/,
    ],
    [{ name: "t", type: "teams", url: "https://x.webhook.office.com/webhookb2/abc" }, /retired/],
    [
      { name: "s", type: "slack", url: "https://hooks.slack.com/services/T/B/x", secret: "x" },
      /no signing/,
    ],
    [{ name: "n", type: "smn", topic: "alerts" }, /topic URN/],
  ] as const)("%j is refused: %s", (settings, problem) => {
    const problems = CHANNELS[settings.type].check(settings as ChannelSettings);
    expect(problems.join("\n")).toMatch(problem);
  });
});

describe("the generic webhook's document", () => {
  it("matches docs/alert.schema.json, for one alert and for a summary", () => {
    const schema = JSON.parse(
      readFileSync(join(__dirname, "../../../docs/alert.schema.json"), "utf8"),
    );
    const validate = new Ajv({ strict: false }).compile(schema);
    const one = CHANNELS.webhook.render([sampleAlert()], { maxVulnerabilities: 5 }).body;
    const many = CHANNELS.webhook.render(
      [sampleAlert(), sampleAlert({ repository: "web", counts: undefined, vulnerabilities: [] })],
      { maxVulnerabilities: 5 },
    ).body;
    expect(validate(one), JSON.stringify(validate.errors)).toBe(true);
    expect(validate(many), JSON.stringify(validate.errors)).toBe(true);
    expect(one).toMatchObject({ version: 1, image: "payments/api:1.4.2 (instance inst-1)" });
  });
});
