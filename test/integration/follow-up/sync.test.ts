import { afterEach, describe, expect, it } from "vitest";
import { type HssEmulator, startHssEmulator } from "../../../src/emulator/hss-emulator";
import type { ImageRef } from "../../../src/follow-up/lookup";
import { requestSync } from "../../../src/follow-up/sync";
import { hssApiClient } from "../../../src/hss/apis";
import { MemoryCallBudget } from "../../../src/hss/call-budget";
import { createLogger } from "../../../src/log";
import { MemoryWatchStore } from "../../../src/queue/memory-queue";
import { standInCaller } from "../../support/callers";

/** Syncs name the registry by the `id` HSS lists it with (RegistryInfo), found by its address. */

let emulator: HssEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

async function syncFor(refs: ImageRef[], sparseAnswers = true) {
  emulator ??= await startHssEmulator({ rateLimit: false, sparseAnswers });
  const lines: Array<Record<string, unknown>> = [];
  const hss = hssApiClient({
    caller: standInCaller(emulator, { region: "cn-north-4" }),
    timeoutMs: 2000,
  });
  const outcomes = await requestSync(refs, {
    hss,
    budget: new MemoryCallBudget(5),
    marks: new MemoryWatchStore(Date.now),
    swr: { defaultInstance: undefined, instancesByHost: {} },
    log: createLogger({ level: "info", write: (line) => lines.push(JSON.parse(line)) }),
  });
  return { emulator, outcomes, lines };
}

const enterpriseRef = (host: string, instance = "inst-1"): ImageRef => ({
  image_type: "instance_image",
  target: {
    namespace: "team",
    image_name: "api",
    image_version: "2.0",
    instance_id: instance,
    instance_url: `${host}/team/api:2.0`,
  },
});

describe("asking HSS to sync a registry", () => {
  it("names the enterprise registry by HSS's `id`, the one at exactly the image's address", async () => {
    emulator = await startHssEmulator({ rateLimit: false, sparseAnswers: true });
    // Two registries HSS knows; the second's address starts with the first's.
    emulator.push(
      {
        image_type: "instance_image",
        namespace: "team",
        image_name: "api",
        image_version: "1.0",
        instance_id: "inst-1",
        host: "swr-ee.example.com",
        synced: true,
      },
      {
        image_type: "instance_image",
        namespace: "team",
        image_name: "api",
        image_version: "1.0",
        instance_id: "inst-9",
        host: "swr-ee.example.com.backup",
        synced: true,
      },
    );

    const { outcomes } = await syncFor([enterpriseRef("swr-ee.example.com")]);

    expect(outcomes).toEqual([{ registry: "instance:inst-1", images: 1, outcome: "requested" }]);
    expect(emulator.syncRequests()).toEqual([
      {
        sync_all_registries: false,
        registry_info: [{ registry_id: "ee-inst-1", registry_type: "SwrEnterprise" }],
      },
    ]);
    const listRegistry = emulator.received.find((request) => request.path.endsWith("/registries"));
    expect(listRegistry?.query).toMatchObject({
      registry_addr: "swr-ee.example.com",
      limit: "200",
    });
    // As HSS's SDK sends it: the region header on the POST only.
    expect(listRegistry?.headers.region).toBeUndefined();
    const syncTask = emulator.received.find((request) =>
      request.path.endsWith("/image-sync/tasks"),
    );
    expect(syncTask?.headers.region).toBe("cn-north-4");
  });

  it("syncs every registry when HSS lists none at the image's address", async () => {
    const { emulator, outcomes } = await syncFor([enterpriseRef("unknown.example.com")]);
    expect(outcomes[0]?.outcome).toBe("requested");
    expect(emulator.syncRequests()).toEqual([{ sync_all_registries: true }]);
  });

  it("reads RunImageSynchronize's body: a 200 with a non-zero error_code is a failed sync", async () => {
    emulator = await startHssEmulator({ rateLimit: false });
    emulator.failNext({
      kind: "answer",
      status: 200,
      body: { error_code: 12, error_description: "registry not reachable" },
    });
    const basic: ImageRef = {
      image_type: "private_image",
      target: { namespace: "team", image_name: "api", image_version: "1" },
    };

    const failed = await syncFor([basic]);

    expect(failed.outcomes[0]?.outcome).toBe("failed");
    expect(failed.lines).toContainEqual(
      expect.objectContaining({
        event: "sync_failed",
        error_code: "SYNC_ERROR_12",
        error_msg: expect.stringMatching(/error_code 12: registry not reachable/),
      }),
    );

    emulator.failNext({ kind: "answer", status: 200, body: { error_code: 0 } });
    const succeeded = await syncFor([basic]);
    expect(succeeded.outcomes[0]?.outcome).toBe("requested");
  });
});
