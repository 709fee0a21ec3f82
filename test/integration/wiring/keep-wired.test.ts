import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { EMULATOR_PROJECT_ID } from "../../../src/emulator/hss-emulator";
import { type SwrEmulator, startSwrEmulator } from "../../../src/emulator/swr-emulator";
import { timerEvent } from "../../../src/runners/server";
import { POLICY_NAME } from "../../../src/wiring/policy";
import type { WiringSummary } from "../../../src/wiring/scheduled";
import { forgedPolicy, SAMPLE_WEBHOOK_SECRET } from "../../support/fixtures";
import { type Harness, startHarness } from "../../support/harness";
import { type RedisServer, startRedis } from "../../support/redis-server";
import { type StartedServer, startServerProcess } from "../../support/start-process";

/**
 * The scheduled flush keeps SWR Enterprise wired (SWR_WIRE_INSTANCES): the function's own timer
 * invocations, against the SWR stand-in over loopback.
 */

const INSTANCE = "ee-instance-1";
const URL = "https://4f2a.apic.cn-north-4.huaweicloudapis.com/swr-scan-on-push";

let swr: SwrEmulator;
let harness: Harness;

async function start(env: Record<string, string>) {
  harness = await startHarness({
    SCAN_QUEUE: "memory",
    SWR_WIRE_INSTANCES: INSTANCE,
    SWR_ENDPOINT: swr.url,
    SWR_WIRE_URL: URL,
    ...env,
  });
}

const flush = async () =>
  ((await harness.invoke(timerEvent())) as { wiring?: WiringSummary }).wiring;

beforeEach(async () => {
  // The stand-in answers for the project the harness's HSS emulator gives the function.
  swr = await startSwrEmulator({ projectId: "0123456789abcdef0123456789abcdef" });
  for (const namespace of ["team-a", "team-b", "platform"]) swr.addNamespace(INSTANCE, namespace);
});
afterEach(async () => {
  await harness?.close();
  await swr.close();
});

describe("the scheduled flush with SWR_WIRE_INSTANCES", () => {
  it("wires every namespace, then picks up a namespace created later", async () => {
    await start({ SWR_WIRE_INTERVAL_MINUTES: "0", HSS_PROJECT_ID: swr.projectId });

    const first = await flush();
    expect(first).toMatchObject({ counts: { created: 3 }, errors: [], complete: true });
    swr.addNamespace(INSTANCE, "team-c");
    const second = await flush();

    expect(second).toMatchObject({ counts: { created: 1, unchanged: 3 }, complete: true });
    expect(second?.changes).toEqual([
      expect.objectContaining({ namespace: "team-c", action: "created" }),
    ]);
    const addresses = swr.policies(INSTANCE).map((policy) => policy.targets[0]?.address);
    expect(addresses).toEqual(Array(4).fill(`${URL}?instance_id=${INSTANCE}`));
    const headers = swr.policies(INSTANCE).map((policy) => policy.targets[0]?.auth_header);
    expect(headers).toEqual(Array(4).fill(`authorization:${SAMPLE_WEBHOOK_SECRET}`));
    const logged = harness.logged("swr_wired");
    expect(logged).toHaveLength(2);
    expect(harness.logs.join("\n")).not.toContain(SAMPLE_WEBHOOK_SECRET);
  });

  it("runs at most once per SWR_WIRE_INTERVAL_MINUTES", async () => {
    await start({ SWR_WIRE_INTERVAL_MINUTES: "60", HSS_PROJECT_ID: swr.projectId });

    expect(await flush()).toMatchObject({ counts: { created: 3 } });
    swr.addNamespace(INSTANCE, "team-c");
    expect(await flush()).toBeUndefined();
    expect(swr.policies(INSTANCE)).toHaveLength(3);
  });

  it("stays within SWR_CALLS_PER_MINUTE, and tries again at the next flush", async () => {
    // Two lists and three creates need five calls; three a minute leave two creates for later.
    await start({
      SWR_WIRE_INTERVAL_MINUTES: "60",
      SWR_CALLS_PER_MINUTE: "3",
      HSS_PROJECT_ID: swr.projectId,
    });

    const first = await flush();

    expect(first).toMatchObject({ counts: { created: 1, postponed: 2 }, complete: false });
    expect(swr.policies(INSTANCE)).toHaveLength(1);
    expect(swr.received.length).toBe(3);
    // Cut short, the next flush is due at once, though the hour has not passed; the minute's
    // budget still holds it back.
    expect(await flush()).toMatchObject({ counts: { postponed: 1 }, complete: false });
    expect(swr.received.length).toBe(3);
  });
});

describe("the scheduled wiring never takes an address from a policy", () => {
  it("without SWR_WIRE_URL it calls nothing and says what is missing, whatever policies say", async () => {
    await start({
      SWR_WIRE_INTERVAL_MINUTES: "0",
      HSS_PROJECT_ID: swr.projectId,
      SWR_WIRE_URL: "",
    });
    swr.addPolicy(INSTANCE, "team-a", forgedPolicy("https://attacker.example/steal"));

    const summary = await flush();

    expect(summary?.errors).toEqual([expect.stringMatching(/^SWR_WIRE_URL is not set/)]);
    expect(swr.received).toEqual([]);
    expect(harness.logged("swr_wired")[0]).toMatchObject({ level: "warn" });
  });
});

describe("the scheduled wiring in a running function (npm start, Redis)", () => {
  let redis: RedisServer | undefined;
  let server: StartedServer | undefined;
  afterEach(async () => {
    server?.stop();
    await redis?.close();
  });

  it.each([
    ["before", true],
    ["after", false],
  ])(
    "sends the secret only to SWR_WIRE_URL, a forged policy listed %s its own, and logs the forgery",
    async (_, forgedFirst) => {
      // Prepare: an SWR stand-in for the embedded HSS emulator's project, a forged policy in team-b
      await swr.close();
      swr = await startSwrEmulator({ projectId: EMULATOR_PROJECT_ID });
      for (const namespace of ["team-a", "team-b", "platform"]) {
        swr.addNamespace(INSTANCE, namespace);
        if (!forgedFirst)
          swr.addPolicy(
            INSTANCE,
            namespace,
            forgedPolicy(`${URL}?instance_id=${INSTANCE}`, `${POLICY_NAME}-b`),
          );
      }
      swr.addPolicy(INSTANCE, "team-b", forgedPolicy("https://attacker.example/steal?k=v"));
      redis = await startRedis();

      // Act: the function runs; its flush (every second) keeps SWR wired
      server = startServerProcess({
        SCAN_QUEUE: redis.url,
        WEBHOOK_SECRET: SAMPLE_WEBHOOK_SECRET,
        SWR_WIRE_INSTANCES: INSTANCE,
        SWR_WIRE_URL: URL,
        SWR_ENDPOINT: swr.url,
        SWR_WIRE_INTERVAL_MINUTES: "0",
      });
      const wired = JSON.parse(await server.waitFor(/"event":"swr_wired"/, 30_000));

      // Assess
      expect(wired).toMatchObject({ complete: true, errors: [] });
      const sentTo = new Set(
        swr.targetsWritten
          .filter((target) => target.auth_header?.includes(SAMPLE_WEBHOOK_SECRET))
          .map((target) => target.address),
      );
      expect([...sentTo]).toEqual([`${URL}?instance_id=${INSTANCE}`]);
      const policies = swr.policies(INSTANCE);
      expect(policies.map((policy) => policy.targets[0]?.address)).toEqual(
        Array(3).fill(`${URL}?instance_id=${INSTANCE}`),
      );
      const warning = JSON.parse(await server.waitFor(/"event":"swr_policy_elsewhere"/, 1000));
      expect(warning).toMatchObject({
        level: "warn",
        instance_id: INSTANCE,
        namespace: "team-b",
        policy_id: expect.any(Number),
        address: "https://attacker.example/steal",
      });
      const log = server.lines.join("\n");
      expect(log).not.toContain("k=v");
      expect(log).not.toContain(SAMPLE_WEBHOOK_SECRET);
    },
    60_000,
  );
});
