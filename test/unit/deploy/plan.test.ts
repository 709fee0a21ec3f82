import { describe, expect, it } from "vitest";
import type {
  DeployedFunction,
  DeployedTrigger,
  FunctionSettings,
  TriggerSettings,
} from "../../../deploy/functiongraph/api";
import {
  descriptionWith,
  fingerprintOf,
  planFunction,
  planTriggers,
} from "../../../deploy/functiongraph/plan";

/** What a deploy decides to change, decided without calling anything. */

const URN = "urn:fss:cn-north-4:p:function:default:fn";
const DIGEST = "ab".repeat(64);

const settings: FunctionSettings = {
  name: "fn",
  runtime: "Node.js20.15",
  handler: "index.handler",
  memorySize: 256,
  timeout: 60,
  agency: "agency",
  description: descriptionWith("Scans", fingerprintOf({ WEBHOOK_SECRET: "s".repeat(20) }, URN)),
  userData: { HSS_REGION: "cn-north-4" },
  encryptedUserData: { WEBHOOK_SECRET: "s".repeat(20) },
};

/** The function as FunctionGraph answers for `settings`. */
const deployed: DeployedFunction = {
  func_urn: `${URN}:latest`,
  func_name: "fn",
  runtime: "Node.js20.15",
  handler: "index.handler",
  memory_size: 256,
  timeout: 60,
  xrole: "agency",
  description: settings.description,
  user_data: JSON.stringify({ HSS_REGION: "cn-north-4" }),
  func_vpc: null,
  digest: DIGEST,
};

describe("planFunction", () => {
  it.each<[string, Partial<FunctionSettings>, Partial<DeployedFunction>, string[]]>([
    ["a runtime", {}, { runtime: "Node.js18.15" }, ["runtime Node.js18.15 → Node.js20.15"]],
    ["the memory", { memorySize: 512 }, {}, ["memory 256 MB → 512 MB"]],
    ["the timeout", { timeout: 30 }, {}, ["timeout 60 s → 30 s"]],
    ["the agency", { agency: undefined }, {}, ["agency agency → (none)"]],
    [
      "variables, by name only",
      { userData: { HSS_REGION: "cn-north-4", LOG_LEVEL: "debug" } },
      { user_data: JSON.stringify({ HSS_REGION: "cn-east-3", OLD: "x" }) },
      ["variables ~HSS_REGION +LOG_LEVEL -OLD"],
    ],
    [
      "an encrypted variable, by its fingerprint",
      {
        description: descriptionWith(
          "Scans",
          fingerprintOf({ WEBHOOK_SECRET: "t".repeat(20) }, URN),
        ),
      },
      {},
      ["encrypted variables"],
    ],
    [
      "the description",
      { description: descriptionWith("Other", fingerprintOf(settings.encryptedUserData, URN)) },
      {},
      ["description"],
    ],
    [
      "a VPC attached",
      { vpc: { vpcId: "vpc", subnetId: "subnet" } },
      {},
      ["VPC none → vpc/subnet"],
    ],
    [
      "a VPC detached",
      {},
      { func_vpc: { vpc_id: "vpc", subnet_id: "subnet" } },
      ["VPC vpc/subnet → none"],
    ],
  ])("updates the configuration when %s changed", (_, wanted, current, changes) => {
    expect(planFunction({ ...settings, ...wanted }, { ...deployed, ...current }, DIGEST)).toEqual({
      kind: "update",
      code: false,
      configuration: changes,
    });
  });

  it("updates the code alone when only its digest differs", () => {
    expect(planFunction(settings, deployed, "cd".repeat(64))).toEqual({
      kind: "update",
      code: true,
      configuration: [],
    });
  });

  it("changes nothing when code and configuration are as deployed", () => {
    expect(planFunction(settings, deployed, DIGEST)).toEqual({ kind: "unchanged" });
  });

  it("creates a function FunctionGraph does not have", () => {
    expect(planFunction(settings, undefined, DIGEST)).toEqual({ kind: "create" });
  });

  it("fingerprints encrypted variables without their values, per function, in any order", () => {
    const one = fingerprintOf({ A: "secret-a", B: "secret-b" }, URN);
    expect(fingerprintOf({ B: "secret-b", A: "secret-a" }, URN)).toBe(one);
    expect(fingerprintOf({ A: "secret-a", B: "secret-b" }, `${URN}2`)).not.toBe(one);
    expect(one).toMatch(/^[0-9a-f]{16}$/);
    expect(descriptionWith("Scans", one)).not.toContain("secret");
    expect(fingerprintOf({}, URN)).toBeUndefined();
    expect(descriptionWith("Scans", undefined)).toBe("Scans");
  });
});

const timer: TriggerSettings = {
  type: "TIMER",
  status: "ACTIVE",
  eventData: { name: "flush", schedule_type: "Rate", schedule: "1m", user_event: "flush" },
};
const api: TriggerSettings = {
  type: "DEDICATEDGATEWAY",
  status: "ACTIVE",
  eventData: {
    name: "scan",
    path: "/scan",
    req_method: "POST",
    group_id: "g",
    func_info: { timeout: 5000 },
  },
};
function existing(
  trigger: TriggerSettings,
  id: string,
  eventData = {},
  status = trigger.status,
): DeployedTrigger {
  return {
    trigger_id: id,
    trigger_type_code: trigger.type,
    trigger_status: status,
    event_data: {
      ...trigger.eventData,
      ...eventData,
      func_info: { timeout: 5000, function_urn: URN, version: "latest" },
      invoke_url: "https://x/scan",
    },
  };
}

describe("planTriggers", () => {
  it("keeps triggers whose settings are as described", () => {
    const steps = planTriggers([api, timer], [existing(api, "a"), existing(timer, "t")]);
    expect(steps.map((step) => step.kind)).toEqual(["unchanged", "unchanged"]);
  });

  it("creates a described trigger that does not exist", () => {
    expect(planTriggers([timer], [])).toEqual([{ kind: "create", desired: timer }]);
  });

  it("replaces a trigger whose settings changed, naming them", () => {
    const [step] = planTriggers([api], [existing(api, "a", { path: "/old" })]);
    expect(step).toMatchObject({ kind: "replace", changed: ["path /old → /scan"] });
  });

  it("replaces an API trigger that moves between the dedicated and the shared gateway", () => {
    const shared = { ...existing(api, "a"), trigger_type_code: "APIG" };
    const [step] = planTriggers([api], [shared]);
    expect(step).toMatchObject({ kind: "replace", changed: ["type APIG → DEDICATEDGATEWAY"] });
  });

  it("replaces an API trigger whose backend timeout changed", () => {
    const slower = { ...api, eventData: { ...api.eventData, func_info: { timeout: 8000 } } };
    const [step] = planTriggers([slower], [existing(api, "a")]);
    expect(step).toMatchObject({ kind: "replace", changed: ["timeout 5000 → 8000 ms"] });
  });

  it("only sets the status of a timer whose status alone changed", () => {
    const disabled = { ...timer, status: "DISABLED" as const };
    expect(planTriggers([disabled], [existing(timer, "t")])).toMatchObject([{ kind: "status" }]);
  });

  it("deletes described types no longer described and second triggers of one name, first", () => {
    const steps = planTriggers(
      [timer],
      [existing(timer, "t1"), existing(timer, "t2"), existing(api, "a")],
    );
    expect(steps).toMatchObject([
      { kind: "delete", current: { trigger_id: "t2" }, reason: "a second trigger of that name" },
      { kind: "delete", current: { trigger_id: "a" }, reason: "not in serverless.yml" },
      { kind: "unchanged", current: { trigger_id: "t1" } },
    ]);
  });

  it("leaves triggers of other kinds alone", () => {
    const obs: DeployedTrigger = {
      trigger_id: "o",
      trigger_type_code: "OBS",
      trigger_status: "ACTIVE",
      event_data: { name: "uploads" },
    };
    expect(planTriggers([], [obs])).toEqual([]);
  });
});
