import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type SwrEmulator, startSwrEmulator } from "../../../src/emulator/swr-emulator";
import { timerEvent } from "../../../src/runners/server";
import type { WiringSummary } from "../../../src/wiring/scheduled";
import { SAMPLE_WEBHOOK_SECRET } from "../../support/fixtures";
import { type Harness, startHarness } from "../../support/harness";

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
