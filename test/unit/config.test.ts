import { describe, expect, it } from "vitest";
import { CONFIG_VARIABLES, ConfigError, endpointForRegion, loadConfig } from "../../src/config";
import { errorOf } from "../support/fixtures";

describe("configuration", () => {
  it("derives the HSS endpoint from the region, with eu-west-101 on .myhuaweicloud.eu", () => {
    expect(loadConfig({ HSS_REGION: "cn-north-4" }).hss.endpoint).toBe(
      "https://hss.cn-north-4.myhuaweicloud.com",
    );
    expect(endpointForRegion("eu-west-101")).toBe("https://hss.eu-west-101.myhuaweicloud.eu");
  });

  it("lets HSS_ENDPOINT override the region's endpoint while keeping the region", () => {
    const config = loadConfig({
      HSS_REGION: "ap-southeast-3",
      HSS_ENDPOINT: "http://127.0.0.1:9999",
    });
    expect(config.hss).toMatchObject({
      endpoint: "http://127.0.0.1:9999",
      region: "ap-southeast-3",
    });
  });

  it("applies documented defaults", () => {
    const config = loadConfig({ HSS_REGION: "cn-north-4" });
    expect(config.hss).toMatchObject({
      batchSize: 1024,
      callsPerMinute: 4,
      timeoutMs: 2000,
      concurrency: 2,
    });
    expect(config.queue).toMatchObject({
      url: "",
      leaseMs: 60_000,
      maxAttempts: 20,
      retryMaxMs: 300_000,
      timeoutMs: 1000,
    });
    expect(config.credentials).toBeUndefined();
    expect(config.logLevel).toBe("info");
  });

  it("treats empty variables as unset", () => {
    const config = loadConfig({ HSS_REGION: "cn-north-4", HSS_PROJECT_ID: "", CLOUD_SDK_AK: " " });
    expect(config.hss.projectId).toBeUndefined();
    expect(config.credentials).toBeUndefined();
  });

  it("refuses a region without HSS unless an endpoint is given", () => {
    expect(() => loadConfig({ HSS_REGION: "cn-nort-4" })).toThrow(
      /HSS_REGION: is not a region with HSS \(did you mean one of .*cn-north-4.*\?\); for a region not listed here, set HSS_ENDPOINT too/,
    );
    expect(
      loadConfig({ HSS_REGION: "xx-new-1", HSS_ENDPOINT: "https://hss.example.com" }).hss,
    ).toMatchObject({ region: "xx-new-1", endpoint: "https://hss.example.com" });
  });

  it("names the variable when neither region nor endpoint is set", () => {
    expect(() => loadConfig({})).toThrow(/HSS_REGION: set HSS_REGION .* or HSS_ENDPOINT/);
  });

  it("rejects a batch size above HSS's 1024 limit, naming the variable", () => {
    expect(() => loadConfig({ HSS_REGION: "cn-north-4", HSS_BATCH_SIZE: "2000" })).toThrow(
      /HSS_BATCH_SIZE: .*1024.*\(got "2000"\)/,
    );
  });

  it("never echoes a credential's value in a configuration error", () => {
    // Prepare
    const sk = "very-secret-sk-value";

    // Act
    let error: unknown;
    try {
      loadConfig({ HSS_REGION: "cn-north-4", CLOUD_SDK_SK: sk });
    } catch (thrown) {
      error = thrown;
    }

    // Assess
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/CLOUD_SDK_AK: is required when CLOUD_SDK_SK is set/);
    expect((error as Error).message).not.toContain(sk);
  });

  it("reads the registry-host map of SWR Enterprise instances", () => {
    const config = loadConfig({
      HSS_REGION: "cn-north-4",
      SWR_INSTANCES: JSON.stringify({
        "Registry.Example.com": "inst-a",
        "other.example.com": { id: "inst-b", url: "other.example.com" },
      }),
    });
    expect(config.swr.instancesByHost).toEqual({
      "registry.example.com": { id: "inst-a", url: undefined },
      "other.example.com": { id: "inst-b", url: "other.example.com" },
    });
  });

  it("keeps a registry host named __proto__ as a host, not as the map's prototype", () => {
    const config = loadConfig({
      HSS_REGION: "cn-north-4",
      SWR_INSTANCES: '{"__proto__":"inst-a"}',
    });
    expect(Object.hasOwn(config.swr.instancesByHost, "__proto__")).toBe(true);
    expect(Object.getPrototypeOf(config.swr.instancesByHost)).toBe(Object.prototype);
  });

  it("explains a malformed SWR_INSTANCES", () => {
    expect(() => loadConfig({ HSS_REGION: "cn-north-4", SWR_INSTANCES: "registry=inst" })).toThrow(
      /SWR_INSTANCES: must be a JSON object/,
    );
  });

  it("names the SWR_INSTANCES entry that is wrong, and every one that is", () => {
    const error = errorOf(() =>
      loadConfig({
        HSS_REGION: "cn-north-4",
        SWR_INSTANCES: JSON.stringify({
          "ok.example.com": "inst-a",
          "long.example.com": "x".repeat(257),
          "typo.example.com": { id: "inst-c", uri: "typo.example.com" },
          "number.example.com": 7,
        }),
      }),
    ) as ConfigError;
    expect(error.problems).toEqual([
      expect.stringMatching(/^SWR_INSTANCES at long\.example\.com: must be at most 256 characters/),
      expect.stringMatching(/^SWR_INSTANCES at typo\.example\.com: has no field "uri"/),
      expect.stringMatching(/^SWR_INSTANCES at number\.example\.com: must be an instance id/),
    ]);
  });

  it("lists every variable it reads", () => {
    expect(CONFIG_VARIABLES).toEqual(
      expect.arrayContaining([
        "HSS_REGION",
        "HSS_ENDPOINT",
        "HSS_PROJECT_ID",
        "HSS_ENTERPRISE_PROJECT_ID",
        "CLOUD_SDK_AK",
        "CLOUD_SDK_SK",
        "CLOUD_SDK_SECURITY_TOKEN",
      ]),
    );
  });
});

describe("configuration of the scan API and the follow-up", () => {
  const base = { HSS_REGION: "cn-north-4" };

  it("defaults to batch-scan, vulnerabilities, a follow-up every 20 s and notifications off", () => {
    const config = loadConfig(base);
    expect(config.scan).toEqual({ api: "batch-scan", scope: 0x000f0000, rateLimit: 0 });
    expect(config.followUp).toEqual({
      enabled: true,
      intervalMs: 20_000,
      timeoutMs: 3_600_000,
      maxRescans: 2,
      syncTimeoutMs: 900_000,
    });
    expect(config.notify).toMatchObject({
      minSeverity: "high",
      channels: [],
      routes: [],
      smnEndpoint: "https://smn.cn-north-4.myhuaweicloud.com",
      retryMs: 86_400_000,
      sentTtlMs: 30 * 86_400_000,
    });
  });

  it("reads NOTIFY_CHANNELS and NOTIFY_ROUTES whole: every problem at once, no secret echoed", () => {
    const channels = {
      ding: {
        type: "dingtalk",
        url: "https://oapi.dingtalk.com/robot/send?access_token=T0KEN-a",
        secret: "S3CRET-b",
      },
      chat: { type: "slack", url: "http://hooks.slack.com/services/T/B/T0KEN-c" },
    };
    const refusal = (extra: object) => {
      try {
        loadConfig({
          ...base,
          NOTIFY_CHANNELS: JSON.stringify({ ...channels, ...extra }),
          NOTIFY_ROUTES: JSON.stringify([{ channels: ["ding", "teams"] }]),
        });
      } catch (thrown) {
        return thrown as ConfigError;
      }
      throw new Error("expected an error");
    };
    // An unknown type fails the variable's own reading; the channel checks wait for a valid one.
    const unknownType = refusal({
      pager: { type: "pagerduty", url: "https://events.example.com/T0KEN-d" },
    });
    expect(unknownType).toBeInstanceOf(ConfigError);
    expect(unknownType.problems).toEqual([
      "NOTIFY_CHANNELS at pager.type: must be one of dingtalk, wecom, feishu, lark, slack, teams, smn, webhook",
    ]);
    expect(unknownType.message).not.toMatch(/T0KEN|S3CRET/);
    const second = refusal({});
    expect(second.problems).toEqual([
      "NOTIFY_CHANNELS: ding: a DingTalk signing secret starts with SEC",
      'NOTIFY_CHANNELS: chat: "url" must be https (http only to this machine)',
      expect.stringMatching(
        /^NOTIFY_ROUTES: route-1: no channel named "teams" \(NOTIFY_CHANNELS has ding, chat\)/,
      ),
    ]);
    expect(second.message).not.toMatch(/T0KEN|S3CRET/);
  });

  it("keeps NOTIFY_WEBHOOK_URL and NOTIFY_SMN_TOPIC as the channels webhook and smn", () => {
    const config = loadConfig({
      ...base,
      NOTIFY_WEBHOOK_URL: "https://relay.example.com/hook",
      NOTIFY_SMN_TOPIC: "urn:smn:cn-north-4:0a1b2c:alerts",
    });
    expect(config.notify.channels).toEqual([
      { name: "webhook", type: "webhook", url: "https://relay.example.com/hook" },
      { name: "smn", type: "smn", topic: "urn:smn:cn-north-4:0a1b2c:alerts" },
    ]);
    expect(config.secrets).toEqual(
      expect.arrayContaining([
        "https://relay.example.com/hook",
        "urn:smn:cn-north-4:0a1b2c:alerts",
      ]),
    );
  });

  it("reads HSS_SCAN_SCOPE as names or as the bitmask", () => {
    const scope = (value: string) =>
      loadConfig({ ...base, HSS_SCAN_SCOPE: value, SCAN_QUEUE: "memory" }).scan.scope;
    expect(scope("vulnerabilities,malicious")).toBe(0x000f0f00);
    expect(scope("all")).toBe(0x7fffffff);
    expect(scope("0x0000f000")).toBe(0x0000f000);
    expect(() => scope("viruses")).toThrow(/HSS_SCAN_SCOPE: must be names among vulnerabilities/);
    expect(() => scope("0")).toThrow(/HSS_SCAN_SCOPE/);
  });

  it("reads the rescan settings, off by default, and refuses them without a queue", () => {
    expect(loadConfig(base).rescan.everyMs).toBe(0);
    const on = loadConfig({
      ...base,
      SCAN_QUEUE: "memory",
      RESCAN_EVERY_DAYS: "7",
      RESCAN_TAGS: "v*, release-*",
      RESCAN_MAX_PER_DAY: "100",
    }).rescan;
    expect(on).toMatchObject({
      everyMs: 7 * 86_400_000,
      tags: ["v*", "release-*"],
      maxPerDay: 100,
      withinMs: 30 * 86_400_000,
      newest: 0,
      reportFixed: false,
    });
    expect(() => loadConfig({ ...base, RESCAN_EVERY_DAYS: "7" })).toThrow(
      /RESCAN_EVERY_DAYS: needs a scan queue \(SCAN_QUEUE\)/,
    );
  });

  it("reads the exceptions file of the alerts, naming the line it cannot take", () => {
    const entries = loadConfig({ ...base, NOTIFY_IGNORE: "CVE-1 package=zlib # accepted\n" }).notify
      .ignore;
    expect(entries).toEqual([{ id: "CVE-1", package: "zlib", reason: "accepted", line: 1 }]);
    expect(() =>
      loadConfig({ ...base, NOTIFY_IGNORE: "CVE-1 # fine\nCVE-2 until=2027-02-30 # no such day" }),
    ).toThrow(/NOTIFY_IGNORE: NOTIFY_IGNORE:2: until=2027-02-30: expected a date that exists/);
  });

  it("refuses scan-task without a queue, naming why", () => {
    expect(() => loadConfig({ ...base, HSS_SCAN_API: "scan-task" })).toThrow(
      /HSS_SCAN_API: scan-task needs a scan queue \(SCAN_QUEUE\)/,
    );
    expect(loadConfig({ ...base, HSS_SCAN_API: "scan-task", SCAN_QUEUE: "memory" }).scan.api).toBe(
      "scan-task",
    );
  });

  it("never echoes a notification URL or topic in its errors", () => {
    const error = (() => {
      try {
        loadConfig({
          ...base,
          NOTIFY_WEBHOOK_URL: "ftp://hooks.example.com/T0KEN-secret",
          NOTIFY_SMN_TOPIC: "not-a-urn-but-secret-T0PIC",
        });
      } catch (thrown) {
        return thrown as Error;
      }
      throw new Error("expected an error");
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toContain("NOTIFY_WEBHOOK_URL");
    expect(error.message).toContain("NOTIFY_SMN_TOPIC");
    expect(error.message).not.toContain("T0KEN-secret");
    expect(error.message).not.toContain("secret-T0PIC");
  });

  it("needs the follow-up for notifications", () => {
    expect(() =>
      loadConfig({
        ...base,
        FOLLOW_UP: "false",
        NOTIFY_WEBHOOK_URL: "https://hooks.example.com/x",
      }),
    ).toThrow(/FOLLOW_UP: must be true for NOTIFY_CHANNELS, NOTIFY_WEBHOOK_URL/);
  });

  it("keeps the queue's bound at or above MAX_IMAGES_PER_DELIVERY, derived or refused", () => {
    // Derived from the rate: 4 calls × 100 images a 61 s window for 15 minutes is 5,901.
    expect(loadConfig({ ...base, HSS_BATCH_SIZE: "100" }).queue.maxQueued).toBe(10_000);
    expect(
      loadConfig({ ...base, HSS_BATCH_SIZE: "100", MAX_IMAGES_PER_DELIVERY: "500" }).queue
        .maxQueued,
    ).toBe(5901);
    expect(() => loadConfig({ ...base, MAX_QUEUED_IMAGES: "50" })).toThrow(
      /MAX_QUEUED_IMAGES: must be at least MAX_IMAGES_PER_DELIVERY \(10000\): a delivery the function accepts must fit in the queue/,
    );
    expect(
      loadConfig({ ...base, MAX_QUEUED_IMAGES: "50", MAX_IMAGES_PER_DELIVERY: "50" }).queue
        .maxQueued,
    ).toBe(50);
  });
});
