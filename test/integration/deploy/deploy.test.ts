import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EMULATOR_KEY } from "../../../deploy/emulator/functiongraph-emulator";
import { startSwrEmulator } from "../../../src/emulator/swr-emulator";
import {
  DEPLOY_PARAMS,
  eventOf,
  functionGraphStandIn,
  REDIS_PASSWORD,
  serviceCopy,
  sls,
  theFunction,
  WEBHOOK_SECRET,
} from "../../support/deploy";
import { ROOT, runLocalTool } from "../../support/local-tool";

/**
 * `npm run deploy`, `info` and `remove`: the real osls 3 command with this repository's provider,
 * in processes of their own, against the loopback FunctionGraph stand-in (which checks every
 * signature). The artifact is the one `npm test` packages first.
 */

const FUNCTION = "swr-scan-on-push";
const standIn = functionGraphStandIn();
const run = (args: string[], cwd = ROOT) => sls(args, standIn.env, cwd);

function deployed() {
  const record = standIn.fg.functions().get(FUNCTION);
  if (!record) throw new Error(`${FUNCTION} is not deployed`);
  return record;
}

const writes = () => standIn.fg.received.filter((request) => request.method !== "GET");

describe("npm run deploy", { timeout: 60_000 }, () => {
  it("creates the function and both triggers as serverless.yml describes them", async () => {
    // Act
    const result = await run(["deploy", ...DEPLOY_PARAMS]);

    // Assess
    expect(result.code, result.output).toBe(0);
    const zip = readFileSync(join(ROOT, "dist", "swr-scan-on-push.zip"));
    expect(deployed()).toMatchObject({
      runtime: "Node.js20.15",
      handler: "index.handler",
      memory_size: 256,
      timeout: 60,
      xrole: "swr-scan-on-push-hss",
      code_filename: "swr-scan-on-push.zip",
      digest: createHash("sha512").update(zip).digest("hex"),
      // No projectId given: looked up with IAM.
      user_data: expect.objectContaining({
        HSS_REGION: "cn-north-4",
        HSS_PROJECT_ID: standIn.fg.projectId,
      }),
      encrypted_user_data: { WEBHOOK_SECRET },
    });
    expect(deployed().func_vpc).toBeUndefined();
    expect(standIn.fg.received.map((request) => request.path)).toContain("/v3/projects");
    const triggers = standIn.fg.triggers(FUNCTION);
    expect(triggers).toHaveLength(2);
    expect(triggers).toContainEqual(
      expect.objectContaining({
        trigger_type_code: "DEDICATEDGATEWAY",
        trigger_status: "ACTIVE",
        event_data: expect.objectContaining({
          name: "swr_scan_on_push",
          path: "/swr-scan-on-push",
          req_method: "POST",
          auth: "NONE",
          protocol: "HTTPS",
          match_mode: "NORMAL",
          env_name: "RELEASE",
          group_id: "9f8e7d6c5b4a49382716a5b4c3d2e1f0",
          instance_id: "0a1b2c3d4e5f4a5b8c9d0e1f2a3b4c5d",
          func_info: expect.objectContaining({ timeout: 5000 }),
        }),
      }),
    );
    expect(triggers).toContainEqual(
      expect.objectContaining({
        trigger_type_code: "TIMER",
        trigger_status: "ACTIVE",
        event_data: expect.objectContaining({
          name: "swr_scan_on_push_flush",
          schedule_type: "Rate",
          schedule: "1m",
          user_event: "flush",
        }),
      }),
    );
    const url = triggers.find((t) => t.trigger_type_code === "DEDICATEDGATEWAY")?.event_data
      .invoke_url as string;
    expect(result.stdout).toContain(
      `SWR EE trigger address: ${url}?instance_id=<SWR EE instance id>`,
    );
    // ${huawei:apiUrl}: the wiring's address is the API trigger's own URL, set once it exists.
    expect(deployed().user_data).toMatchObject({ SWR_WIRE_URL: url });
    expect(result.stdout).toContain(
      `function ${FUNCTION}: SWR_WIRE_URL set to the API trigger's URL`,
    );
    expect(result.stdout).toContain(
      `WEBHOOK_SECRET=<the webhook secret> npm run --silent check-deploy -- "${url}?instance_id=<SWR EE instance id>"`,
    );
  });

  it("changes nothing on a second deploy with the same settings, and says so", async () => {
    // Prepare
    expect((await run(["deploy", ...DEPLOY_PARAMS])).code).toBe(0);
    const before = { function: deployed(), triggers: standIn.fg.triggers(FUNCTION) };
    const writesBefore = writes().length;

    // Act
    const again = await run(["deploy", ...DEPLOY_PARAMS]);

    // Assess
    expect(again.code, again.output).toBe(0);
    expect(again.stdout).toContain(`function ${FUNCTION}: unchanged`);
    expect(again.stdout).toContain("nothing changed");
    expect(writes()).toHaveLength(writesBefore);
    expect(deployed()).toEqual(before.function);
    expect(standIn.fg.triggers(FUNCTION)).toEqual(before.triggers);
  });

  it("applies a new webhook secret, though FunctionGraph never shows encrypted variables", async () => {
    // Prepare
    expect((await run(["deploy", ...DEPLOY_PARAMS])).code).toBe(0);
    const rotated = `${WEBHOOK_SECRET}-rotated`;

    // Act
    const result = await run([
      "deploy",
      ...DEPLOY_PARAMS.map((param) => param.replace(WEBHOOK_SECRET, rotated)),
    ]);

    // Assess
    expect(result.code, result.output).toBe(0);
    expect(result.stdout).toContain("encrypted variables");
    expect(result.output).not.toContain(rotated);
    expect(deployed().encrypted_user_data).toEqual({ WEBHOOK_SECRET: rotated });
  });

  it("applies changed memory, runtime, API path and timer schedule without duplicating a trigger", async () => {
    // Prepare: deployed on an older runtime
    const older = serviceCopy((manifest) => {
      manifest.provider.runtime = "Node.js18.15";
    });
    expect((await run(["deploy", ...DEPLOY_PARAMS], older)).code).toBe(0);
    const changed = serviceCopy((manifest) => {
      manifest.provider.memorySize = 512;
      eventOf(manifest, "apiGateway").path = "/scan-on-push";
      eventOf(manifest, "timer").schedule = "5m";
    });

    // Act
    const result = await run(["deploy", ...DEPLOY_PARAMS], changed);

    // Assess
    expect(result.code, result.output).toBe(0);
    expect(deployed()).toMatchObject({ runtime: "Node.js20.15", memory_size: 512 });
    expect(result.stdout).toContain("runtime Node.js18.15 → Node.js20.15");
    expect(result.stdout).toContain("memory 256 MB → 512 MB");
    const triggers = standIn.fg.triggers(FUNCTION);
    expect(triggers.map((t) => t.trigger_type_code).sort()).toEqual(["DEDICATEDGATEWAY", "TIMER"]);
    expect(triggers.find((t) => t.trigger_type_code === "TIMER")?.event_data.schedule).toBe("5m");
    const api = triggers.find((t) => t.trigger_type_code === "DEDICATEDGATEWAY");
    expect(api?.event_data.path).toBe("/scan-on-push");
    expect(result.stdout).toContain("replaced (path /swr-scan-on-push → /scan-on-push)");
    expect(result.stdout).toContain(`${api?.event_data.invoke_url as string}`);
    // The wiring's address follows the API trigger's new URL.
    expect(deployed().user_data).toMatchObject({ SWR_WIRE_URL: api?.event_data.invoke_url });
    expect(result.stdout).toContain("SWR_WIRE_URL set to the API trigger's URL");
  });

  it("attaches the VPC and encrypts SCAN_QUEUE in queue mode, and detaches it in direct mode", async () => {
    // Prepare
    const queue = [
      `--param=scanQueue=redis://:${REDIS_PASSWORD}@192.168.0.12:6379/0`,
      "--param=vpcId=3c1f6b2a-7d4e-4a8b-9c0d-1e2f3a4b5c6d",
      "--param=subnetId=5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b",
    ];

    // Act
    const queued = await run(["deploy", ...DEPLOY_PARAMS, ...queue]);
    const queueMode = deployed();
    const direct = await run(["deploy", ...DEPLOY_PARAMS]);

    // Assess
    expect(queued.code, queued.output).toBe(0);
    expect(queueMode.func_vpc).toEqual({
      vpc_id: "3c1f6b2a-7d4e-4a8b-9c0d-1e2f3a4b5c6d",
      subnet_id: "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b",
    });
    expect(queueMode.encrypted_user_data.SCAN_QUEUE).toContain(REDIS_PASSWORD);
    expect(JSON.stringify(queueMode.user_data)).not.toContain(REDIS_PASSWORD);
    expect(direct.code, direct.output).toBe(0);
    expect(direct.stdout).toContain(
      "VPC 3c1f6b2a-7d4e-4a8b-9c0d-1e2f3a4b5c6d/5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b → none",
    );
    expect(deployed().func_vpc).toBeUndefined();
    expect(deployed().encrypted_user_data).toEqual({ WEBHOOK_SECRET });
  });

  it("puts the API on the shared gateway with gatewayType=APIG, replacing the dedicated one", async () => {
    // Prepare
    expect((await run(["deploy", ...DEPLOY_PARAMS])).code).toBe(0);
    const shared = DEPLOY_PARAMS.filter((param) => !param.includes("apigInstanceId"));

    // Act
    const result = await run(["deploy", ...shared, "--param=gatewayType=APIG"]);

    // Assess
    expect(result.code, result.output).toBe(0);
    const apis = standIn.fg.triggers(FUNCTION).filter((t) => t.trigger_type_code !== "TIMER");
    expect(apis).toHaveLength(1);
    expect(apis[0]?.trigger_type_code).toBe("APIG");
    expect(apis[0]?.event_data.instance_id).toBeUndefined();
    expect(result.stdout).toContain("type DEDICATEDGATEWAY → APIG");
  });

  it("deletes a trigger serverless.yml no longer describes, and leaves other kinds alone", async () => {
    // Prepare
    expect((await run(["deploy", ...DEPLOY_PARAMS])).code).toBe(0);
    const noTimer = serviceCopy((manifest) => {
      theFunction(manifest).events = theFunction(manifest).events.filter((e) => !("timer" in e));
    });

    // Act
    const result = await run(["deploy", ...DEPLOY_PARAMS], noTimer);

    // Assess
    expect(result.code, result.output).toBe(0);
    expect(result.stdout).toContain(
      "trigger TIMER swr_scan_on_push_flush: deleted (not in serverless.yml)",
    );
    expect(standIn.fg.triggers(FUNCTION).map((t) => t.trigger_type_code)).toEqual([
      "DEDICATEDGATEWAY",
    ]);
  });
});

describe("npm run sls -- info and remove", { timeout: 60_000 }, () => {
  it("wires every namespace of the instances given (wireInstances) to the new trigger", async () => {
    // Prepare: an SWR Enterprise stand-in that takes the deploying user's key
    const swr = await startSwrEmulator({ keys: [EMULATOR_KEY], projectId: standIn.fg.projectId });
    for (const namespace of ["team-a", "team-b"]) swr.addNamespace("ee-1", namespace);
    try {
      // Act
      const result = await sls(["deploy", ...DEPLOY_PARAMS, "--param=wireInstances=ee-1"], {
        ...standIn.env,
        SWR_ENDPOINT: swr.url,
      });

      // Assess: the function keeps them wired, and the deploy wired them now
      expect(result.code, result.output).toBe(0);
      expect(deployed().user_data).toMatchObject({ SWR_WIRE_INSTANCES: "ee-1" });
      const url = standIn.fg.triggers(FUNCTION).find((t) => t.trigger_type_code !== "TIMER");
      const address = (url?.event_data as { invoke_url?: string } | undefined)?.invoke_url;
      expect(result.output).toMatch(/ee-1 +team-a +created/);
      expect(result.output).toMatch(/2 created/);
      const policies = swr.policies("ee-1");
      expect(policies).toHaveLength(2);
      for (const policy of policies) {
        expect(policy.targets[0]?.auth_header).toBe(`authorization:${WEBHOOK_SECRET}`);
        expect(policy.targets[0]?.address).toMatch(/\?instance_id=ee-1$/);
        if (address) expect(policy.targets[0]?.address).toContain(address);
      }
    } finally {
      await swr.close();
    }
  });

  it("npm run wire reads the trigger's URL from the deployment when none is given", async () => {
    // Prepare: deployed, and an SWR Enterprise instance of two namespaces
    expect((await run(["deploy", ...DEPLOY_PARAMS])).code).toBe(0);
    const trigger = standIn.fg.triggers(FUNCTION).find((t) => t.trigger_type_code !== "TIMER");
    const swr = await startSwrEmulator({ keys: [EMULATOR_KEY], projectId: standIn.fg.projectId });
    for (const namespace of ["team-a", "team-b"]) swr.addNamespace("ee-1", namespace);
    try {
      // Act: the deploying user's key signs both the info and SWR's calls
      const wired = await runLocalTool("cli/wire.ts", ["--instance-id", "ee-1"], {
        ...standIn.env,
        HSS_REGION: "cn-north-4",
        HSS_PROJECT_ID: standIn.fg.projectId,
        SWR_ENDPOINT: swr.url,
        CLOUD_SDK_AK: EMULATOR_KEY.ak,
        CLOUD_SDK_SK: EMULATOR_KEY.sk,
        WEBHOOK_SECRET,
      });

      // Assess
      expect(wired.code, wired.stdout + wired.stderr).toBe(0);
      expect(wired.stderr).toMatch(/reading the trigger's URL from the deployment/);
      expect(wired.stdout).toMatch(/^2 created$/m);
      const addresses = swr.policies("ee-1").map((policy) => policy.targets[0]?.address);
      expect(addresses).toHaveLength(2);
      for (const address of addresses)
        expect(address).toMatch(/^https?:\/\/\S+\?instance_id=ee-1$/);
      expect(trigger).toBeDefined();
    } finally {
      await swr.close();
    }
  });

  it("info shows the function and each trigger with its URL, with no secret parameter", async () => {
    // Prepare
    expect((await run(["deploy", ...DEPLOY_PARAMS])).code).toBe(0);
    const url = standIn.fg
      .triggers(FUNCTION)
      .find((t) => t.trigger_type_code === "DEDICATEDGATEWAY")?.event_data.invoke_url as string;

    // Act
    const result = await run(["info", "--region", "cn-north-4"]);

    // Assess
    expect(result.code, result.output).toBe(0);
    expect(result.stdout).toContain(`function ${FUNCTION}`);
    expect(result.stdout).toMatch(/state\s+deployed, version latest/);
    expect(result.stdout).toContain(`POST ${url} (auth NONE)`);
    expect(result.stdout).toContain("TIMER swr_scan_on_push_flush  ACTIVE  Rate 1m");
    expect(result.stdout).toContain(`npm run --silent check-deploy -- "${url}?instance_id=`);
    // The deploy's: the function, its two triggers, SWR_WIRE_URL once the API's URL is known.
    expect(writes()).toHaveLength(4);
  });

  it("remove deletes the function and its triggers, and a second remove has nothing to do", async () => {
    // Prepare
    expect((await run(["deploy", ...DEPLOY_PARAMS])).code).toBe(0);

    // Act
    const removed = await run(["remove", "--region", "cn-north-4"]);
    const again = await run(["remove", "--region", "cn-north-4"]);
    const info = await run(["info", "--region", "cn-north-4"]);

    // Assess
    expect(removed.code, removed.output).toBe(0);
    expect(removed.stdout).toContain(
      `function ${FUNCTION}: removed, with its triggers DEDICATEDGATEWAY swr_scan_on_push, TIMER swr_scan_on_push_flush`,
    );
    expect(standIn.fg.functions().size).toBe(0);
    expect(standIn.fg.triggers()).toHaveLength(0);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("nothing to remove");
    expect(info.code).not.toBe(0);
    expect(info.output).toContain(`function ${FUNCTION} is not deployed in cn-north-4`);
  });
});
