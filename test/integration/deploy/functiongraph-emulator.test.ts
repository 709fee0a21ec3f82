import { readFileSync } from "node:fs";
import { join } from "node:path";
import { strToU8, zipSync } from "fflate";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  EMULATOR_KEY,
  type FunctionGraphEmulator,
  startFunctionGraphEmulator,
} from "../../../deploy/emulator/functiongraph-emulator";
import {
  cloudSettings,
  type DeployedTrigger,
  FunctionGraph,
  type FunctionSettings,
  lookUpProjectId,
  type TriggerSettings,
} from "../../../deploy/functiongraph/api";
import { CloudCallError } from "../../../deploy/functiongraph/errors";
import {
  BasicCredentials,
  DeleteFunctionRequest,
  FunctionGraphClient,
  UpdateTriggerRequest,
  UpdateTriggerRequestBody,
} from "../../../deploy/functiongraph/sdk";
import { ROOT } from "../../support/local-tool";

/**
 * The FunctionGraph stand-in holds the deploy to the real service: called through Huawei's
 * official SDK, it answers only with the fields of the SDK's response models, refuses what the
 * API reference says FunctionGraph refuses, and checks every signature.
 */

const MODELS = join(
  ROOT,
  "deploy",
  "node_modules",
  "@huaweicloud",
  "huaweicloud-sdk-functiongraph",
  "v2",
  "model",
);

/** The JSON fields of one of the SDK's model classes, read from its declaration. */
function modelFields(model: string): Set<string> {
  const declaration = readFileSync(join(MODELS, `${model}.d.ts`), "utf8");
  const body = declaration.slice(
    declaration.indexOf("export declare class"),
    declaration.indexOf("constructor("),
  );
  return new Set(
    [...body.matchAll(/^\s+(?:private\s+)?'?([A-Za-z_][A-Za-z0-9_-]*)'?\??[;:]/gm)].map(
      (match) => match[1] as string,
    ),
  );
}

function expectModel(value: object, model: string) {
  const fields = modelFields(model);
  expect(fields.size).toBeGreaterThan(3);
  expect(
    Object.keys(value).filter((key) => !fields.has(key) && key !== "httpStatusCode"),
    model,
  ).toEqual([]);
}

/** A zip FunctionGraph takes: one entry file. */
const ZIP = {
  zip: Buffer.from(zipSync({ "index.js": strToU8("exports.handler = async () => ({});\n") })),
  filename: "fn.zip",
};
const SETTINGS: FunctionSettings = {
  name: "fn",
  runtime: "Node.js20.15",
  handler: "index.handler",
  memorySize: 256,
  timeout: 60,
  agency: "swr-scan-on-push-hss",
  description: "a function",
  userData: { HSS_REGION: "cn-north-4" },
  encryptedUserData: { WEBHOOK_SECRET: "the-secret-value-0123" },
};
const TIMER: TriggerSettings = {
  type: "TIMER",
  status: "ACTIVE",
  eventData: { name: "tick", schedule_type: "Rate", schedule: "1m", user_event: "flush" },
};
const API: TriggerSettings = {
  type: "DEDICATEDGATEWAY",
  status: "ACTIVE",
  eventData: {
    name: "api_one",
    type: 1,
    path: "/scan",
    protocol: "HTTPS",
    req_method: "POST",
    match_mode: "NORMAL",
    env_name: "RELEASE",
    env_id: "DEFAULT_ENVIRONMENT_RELEASE_ID",
    auth: "NONE",
    group_id: "group",
    instance_id: "gateway",
    backend_type: "FUNCTION",
    func_info: { timeout: 5000 },
  },
};

let fg: FunctionGraphEmulator;
let api: FunctionGraph;
beforeAll(async () => {
  fg = await startFunctionGraphEmulator();
  api = new FunctionGraph(
    "cn-north-4",
    fg.projectId,
    { ...EMULATOR_KEY, source: "test" },
    cloudOf(fg),
  );
});
afterAll(() => fg.close());
beforeEach(() => fg.reset());

function cloudOf(emulator: FunctionGraphEmulator) {
  return cloudSettings("cn-north-4", {
    HUAWEICLOUD_FUNCTIONGRAPH_ENDPOINT: emulator.url,
    HUAWEICLOUD_IAM_ENDPOINT: emulator.url,
  });
}

async function refusal(call: Promise<unknown>) {
  const error = await call.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(CloudCallError);
  return (error as CloudCallError).answer;
}

describe("the FunctionGraph stand-in, through the official SDK", () => {
  it("answers with the fields of the SDK's response models", async () => {
    // Act
    const created = await api.create(
      { ...SETTINGS, vpc: { vpcId: "vpc", subnetId: "subnet" } },
      ZIP,
    );
    const shown = await api.show("fn");
    const timer = await api.createTrigger("fn", TIMER, {});
    const gateway = await api.createTrigger("fn", API, {});
    const listed = await api.triggers("fn");
    const updated = await api.updateConfig({ ...SETTINGS, memorySize: 512 });
    const code = await api.updateCode("fn", ZIP);
    const status = await api.setTriggerStatus("fn", timer, "DISABLED");

    // Assess
    expectModel(created, "CreateFunctionResponse");
    expectModel(shown ?? {}, "ShowFunctionConfigResponse");
    expectModel(shown?.func_vpc ?? {}, "FuncVpc");
    for (const trigger of [timer, gateway]) expectModel(trigger, "CreateFunctionTriggerResponse");
    for (const trigger of listed) {
      expectModel(trigger, "ListFunctionTriggerResult");
      expectModel(trigger.event_data, "TriggerEventDataResponseBody");
    }
    expectModel(gateway.event_data.func_info as object, "ApigTriggerFuncInfo");
    expectModel(updated, "UpdateFunctionConfigResponse");
    expectModel(code, "UpdateFunctionCodeResponse");
    expectModel(status, "UpdateTriggerResponse");
    expect(gateway.event_data.invoke_url).toMatch(
      /^https:\/\/[0-9a-f]{32}\.apic\.cn-north-4\.huaweicloudapis\.com\/scan$/,
    );
  });

  it("never gives encrypted variables back in clear", async () => {
    // Act
    await api.create(SETTINGS, ZIP);
    const shown = (await api.show("fn")) as unknown as Record<string, unknown>;

    // Assess
    expect(JSON.stringify(shown)).not.toContain("the-secret-value-0123");
    expect(fg.functions().get("fn")?.encrypted_user_data).toEqual(SETTINGS.encryptedUserData);
  });

  it("answers 404 FSS.1051 for a function it does not have", async () => {
    expect(await api.show("missing")).toBeUndefined();
    expect(fg.received.at(-1)).toMatchObject({ status: 404 });
  });

  it("refuses a request signed with another secret key: 401 APIGW.0301", async () => {
    // Prepare
    const wrong = new FunctionGraph(
      "cn-north-4",
      fg.projectId,
      { ak: EMULATOR_KEY.ak, sk: "wrong", source: "test" },
      cloudOf(fg),
    );

    // Act
    const answer = await refusal(wrong.show("fn"));

    // Assess
    expect(answer).toMatchObject({ status: 401, code: "APIGW.0301" });
    expect(answer.requestId).toMatch(/^[0-9a-f]{32}$/);
  });

  it.each<[string, Partial<FunctionSettings>, number, string]>([
    ["a runtime it does not have", { runtime: "Node.js99.1" }, 400, "FSS.1005"],
    ["a memory size it does not offer", { memorySize: 300 }, 400, "FSS.1007"],
    ["a timeout over its limit", { timeout: 300_000 }, 400, "FSS.1008"],
    ["a handler without an export", { handler: "index" }, 400, "FSS.1003"],
    [
      "more than 20 variables",
      { userData: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`V${i}`, "x"])) },
      400,
      "FSS.1017",
    ],
    ["more than 4 KB of variables", { userData: { BIG: "x".repeat(4100) } }, 400, "FSS.1018"],
    [
      "more than 20 encrypted variables",
      {
        encryptedUserData: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`S${i}`, "x"])),
      },
      400,
      "FSS.1017",
    ],
    ["an agency IAM does not have", { agency: "no-such-agency" }, 400, "FSS.0400"],
    [
      "a VPC without an agency",
      { agency: undefined, vpc: { vpcId: "v", subnetId: "s" } },
      400,
      "FSS.0400",
    ],
  ])("refuses to create a function with %s", async (_, change, status, code) => {
    expect(await refusal(api.create({ ...SETTINGS, ...change }, ZIP))).toMatchObject({
      status,
      code,
    });
    expect(fg.functions().size).toBe(0);
  });

  it("refuses code that is not a zip, and a function that exists: 409 FSS.1061", async () => {
    expect(
      await refusal(api.create(SETTINGS, { zip: Buffer.from("not a zip"), filename: "fn.zip" })),
    ).toMatchObject({
      status: 400,
      code: "FSS.1011",
    });
    await api.create(SETTINGS, ZIP);
    expect(await refusal(api.create(SETTINGS, ZIP))).toMatchObject({
      status: 409,
      code: "FSS.1061",
    });
  });

  it("replaces the configuration on update: what the update leaves out is removed", async () => {
    // Prepare
    await api.create({ ...SETTINGS, vpc: { vpcId: "vpc", subnetId: "subnet" } }, ZIP);

    // Act
    await api.updateConfig({ ...SETTINGS, memorySize: 512, encryptedUserData: {} });

    // Assess
    expect(fg.functions().get("fn")).toMatchObject({ memory_size: 512, encrypted_user_data: {} });
    expect(fg.functions().get("fn")?.func_vpc).toBeUndefined();
  });

  it.each<[string, TriggerSettings, number, string]>([
    [
      "a rate over 60 minutes",
      { ...TIMER, eventData: { ...TIMER.eventData, schedule: "61m" } },
      400,
      "FSS.1109",
    ],
    [
      "a cron without seconds",
      { ...TIMER, eventData: { ...TIMER.eventData, schedule_type: "Cron", schedule: "* * * * *" } },
      400,
      "FSS.1109",
    ],
    ["a disabled API trigger", { ...API, status: "DISABLED" }, 400, "FSS.1107"],
    [
      "an API without its gateway",
      { ...API, eventData: { ...API.eventData, instance_id: undefined } },
      400,
      "FSS.1107",
    ],
    [
      "an API without a backend timeout",
      { ...API, eventData: { ...API.eventData, func_info: {} } },
      400,
      "FSS.1107",
    ],
    ["a trigger type it does not model", { ...TIMER, type: "OBS" }, 400, "FSS.1101"],
  ])("refuses a trigger with %s", async (_, trigger, status, code) => {
    await api.create(SETTINGS, ZIP);
    expect(await refusal(api.createTrigger("fn", trigger, {}))).toMatchObject({ status, code });
  });

  it("refuses a second timer of one name, and an API path or name another API of the group has", async () => {
    // Prepare
    await api.create(SETTINGS, ZIP);
    await api.create({ ...SETTINGS, name: "other" }, ZIP);
    await api.createTrigger("fn", TIMER, {});
    await api.createTrigger("other", API, {});

    // Act, Assess
    expect(await refusal(api.createTrigger("fn", TIMER, {}))).toMatchObject({
      status: 409,
      code: "FSS.1148",
    });
    expect(
      await refusal(
        api.createTrigger("fn", { ...API, eventData: { ...API.eventData, name: "api_two" } }, {}),
      ),
    ).toMatchObject({
      status: 409,
      code: "FSS.1147",
    });
    expect(
      await refusal(
        api.createTrigger("fn", { ...API, eventData: { ...API.eventData, path: "/other" } }, {}),
      ),
    ).toMatchObject({
      status: 409,
      code: "FSS.1146",
    });
  });

  it("updates nothing of a trigger but its status, and disables only a timer", async () => {
    // Prepare
    await api.create(SETTINGS, ZIP);
    const timer = await api.createTrigger("fn", TIMER, {});
    const gateway = await api.createTrigger("fn", API, {});
    const client = sdkClient(fg);
    const update = (trigger: DeployedTrigger, body: UpdateTriggerRequestBody) =>
      client.updateTrigger(
        new UpdateTriggerRequest()
          .withFunctionUrn(`${api.urnOf("fn")}:latest`)
          .withTriggerTypeCode(trigger.trigger_type_code)
          .withTriggerId(trigger.trigger_id)
          .withBody(body),
      );

    // Act
    await api.setTriggerStatus("fn", timer, "DISABLED");
    const schedule = await update(timer, {
      event_data: { schedule: "2m" },
    } as unknown as UpdateTriggerRequestBody).catch(
      (error: { httpStatusCode: number; errorCode: string }) => error,
    );
    const disabledApi = await update(
      gateway,
      new UpdateTriggerRequestBody().withTriggerStatus("DISABLED"),
    ).catch((error: { httpStatusCode: number; errorCode: string }) => error);

    // Assess
    expect(fg.triggers("fn").find((t) => t.trigger_type_code === "TIMER")?.trigger_status).toBe(
      "DISABLED",
    );
    expect(schedule).toMatchObject({ httpStatusCode: 400, errorCode: "FSS.0400" });
    expect(disabledApi).toMatchObject({ httpStatusCode: 400, errorCode: "FSS.1107" });
  });

  it("deletes a function only by its URN without a version, and its triggers with it", async () => {
    // Prepare
    await api.create(SETTINGS, ZIP);
    await api.createTrigger("fn", TIMER, {});

    // Act
    const latest = await sdkClient(fg)
      .deleteFunction(new DeleteFunctionRequest().withFunctionUrn(`${api.urnOf("fn")}:latest`))
      .catch((error: { httpStatusCode: number }) => error);
    const removed = await api.remove("fn");

    // Assess
    expect(latest).toMatchObject({ httpStatusCode: 400 });
    expect(removed).toBe(true);
    expect(fg.functions().size).toBe(0);
    expect(fg.triggers()).toEqual([]);
    expect(await api.remove("fn")).toBe(false);
  });

  it("answers IAM's project list, and refuses it to a user without the permission", async () => {
    // Act
    const projectId = await lookUpProjectId(
      "cn-north-4",
      { ...EMULATOR_KEY, source: "test" },
      cloudOf(fg),
    );
    const strict = await startFunctionGraphEmulator({ canListProjects: false });
    const answer = await refusal(
      lookUpProjectId("cn-north-4", { ...EMULATOR_KEY, source: "test" }, cloudOf(strict)),
    );
    await strict.close();

    // Assess
    expect(projectId).toBe(fg.projectId);
    expect(answer).toMatchObject({ status: 403, code: "403" });
    expect(answer.message).toContain("iam:projects:listProjects");
  });

  it("plays a queued fault on the first request it matches", async () => {
    // Prepare
    fg.failNext({ status: 503, errorCode: "FSS.0503", match: { method: "POST" } });

    // Act
    const missing = await api.show("fn");
    const answer = await refusal(api.create(SETTINGS, ZIP));

    // Assess
    expect(missing).toBeUndefined();
    expect(answer).toMatchObject({ status: 503, code: "FSS.0503" });
  });
});

function sdkClient(emulator: FunctionGraphEmulator): FunctionGraphClient {
  return FunctionGraphClient.newBuilder()
    .withCredential(
      new BasicCredentials()
        .withAk(EMULATOR_KEY.ak)
        .withSk(EMULATOR_KEY.sk)
        .withProjectId(emulator.projectId),
    )
    .withEndpoint(emulator.url)
    .withOptions({ customUserAgent: "test" })
    .build();
}
