import { describe, expect, it } from "vitest";
import { DeployError } from "../../../deploy/functiongraph/errors";
import {
  functionNames,
  readFunctions,
  type ServiceDescription,
} from "../../../deploy/functiongraph/service";

/** serverless.yml, resolved, read into FunctionGraph's terms, and refused where it must be. */

function service(edit: (description: ServiceDescription) => void = () => {}): ServiceDescription {
  const description: ServiceDescription = {
    service: "svc",
    provider: {
      runtime: "Node.js20.15",
      memorySize: 256,
      timeout: 60,
      agencyName: "agency",
      environment: { HSS_REGION: "cn-north-4", EMPTY: "" },
      encryptedEnvironment: { WEBHOOK_SECRET: "s".repeat(20), SCAN_QUEUE: "" },
    },
    package: { artifact: "dist/fn.zip" },
    functions: {
      fn: {
        handler: "index.handler",
        events: [
          { apiGateway: { name: "api_one", groupId: "g", instanceId: "i", path: "/p" } },
          { timer: { name: "tick", schedule: "1m" } },
        ],
      },
    },
  };
  edit(description);
  return description;
}

const readOne = (description: ServiceDescription) => {
  const [fn] = readFunctions(description, "/service");
  if (!fn) throw new Error("no function");
  return fn;
};

describe("readFunctions", () => {
  it("maps the function, drops empty variables and names it as the framework does", () => {
    const fn = readOne(service());
    expect(fn.artifact).toBe("/service/dist/fn.zip");
    expect(fn.settings).toMatchObject({
      name: "svc-dev-fn",
      runtime: "Node.js20.15",
      memorySize: 256,
      timeout: 60,
      agency: "agency",
      userData: { HSS_REGION: "cn-north-4" },
      encryptedUserData: { WEBHOOK_SECRET: "s".repeat(20) },
      vpc: undefined,
    });
    expect(functionNames(service())).toEqual(["svc-dev-fn"]);
  });

  it("maps the events to FunctionGraph's triggers with their defaults", () => {
    const [api, timer] = readOne(service()).triggers;
    expect(api).toEqual({
      type: "DEDICATEDGATEWAY",
      status: "ACTIVE",
      eventData: {
        name: "api_one",
        type: 1,
        path: "/p",
        protocol: "HTTPS",
        req_method: "ANY",
        match_mode: "NORMAL",
        env_name: "RELEASE",
        env_id: "DEFAULT_ENVIRONMENT_RELEASE_ID",
        auth: "IAM",
        group_id: "g",
        instance_id: "i",
        backend_type: "FUNCTION",
        func_info: { timeout: 5000 },
      },
    });
    expect(timer).toEqual({
      type: "TIMER",
      status: "ACTIVE",
      eventData: { name: "tick", schedule_type: "Rate", schedule: "1m", user_event: "" },
    });
  });

  it("lets a function's settings and variables override the provider's", () => {
    const fn = readOne(
      service((d) => {
        Object.assign(d.functions?.fn ?? {}, {
          memorySize: 512,
          environment: { HSS_REGION: "cn-east-3", LOG_LEVEL: "debug" },
        });
      }),
    );
    expect(fn.settings.memorySize).toBe(512);
    expect(fn.settings.userData).toEqual({ HSS_REGION: "cn-east-3", LOG_LEVEL: "debug" });
  });

  it.each<[string, (d: ServiceDescription) => void, RegExp]>([
    [
      "a VPC id without a subnet",
      (d) => Object.assign(d.functions?.fn ?? {}, { vpcId: "v" }),
      /subnetId is empty but vpcId is not/,
    ],
    [
      "a VPC without an agency",
      (d) => {
        d.provider.agencyName = "";
        Object.assign(d.functions?.fn ?? {}, { vpcId: "v", subnetId: "s" });
      },
      /a function in a VPC needs an agency/,
    ],
    [
      "a variable both plain and encrypted",
      (d) => {
        d.provider.environment = { WEBHOOK_SECRET: "x".repeat(20) };
      },
      /WEBHOOK_SECRET is set both in environment and in encryptedEnvironment/,
    ],
    [
      "more than 4 KB of variables",
      (d) => {
        d.provider.environment = { BIG: "x".repeat(4100) };
      },
      /1 environment variables \(\d+ bytes\); FunctionGraph takes at most 20 and 4096 bytes/,
    ],
    [
      "more than 20 encrypted variables",
      (d) => {
        d.provider.encryptedEnvironment = Object.fromEntries(
          Array.from({ length: 21 }, (_, i) => [`SECRET_${i}`, "x"]),
        );
      },
      /21 encryptedEnvironment variables/,
    ],
    [
      "a dedicated gateway trigger without the gateway's id",
      (d) => {
        d.functions = {
          fn: {
            handler: "i.h",
            events: [{ apiGateway: { name: "api", groupId: "g", path: "/" } }],
          },
        };
      },
      /instanceId is empty: a dedicated gateway trigger needs the gateway's instance id/,
    ],
    [
      "an event of another kind",
      (d) => {
        d.functions = { fn: { handler: "i.h", events: [{ http: { path: "/" } }] } };
      },
      /http events are not supported \(apiGateway, timer\)/,
    ],
    [
      "two timers of one name",
      (d) => {
        d.functions = {
          fn: {
            handler: "i.h",
            events: [
              { timer: { name: "t", schedule: "1m" } },
              { timer: { name: "t", schedule: "2m" } },
            ],
          },
        };
      },
      /two timer triggers are named t/,
    ],
    [
      "a name FunctionGraph refuses",
      (d) => {
        Object.assign(d.functions?.fn ?? {}, { name: "1-starts-with-a-digit" });
      },
      /FunctionGraph takes 2-60 letters, digits, - and _, starting with a letter/,
    ],
    [
      "no artifact",
      (d) => {
        d.package = {};
      },
      /no package\.artifact/,
    ],
  ])("refuses %s before any request", (_, edit, message) => {
    expect(() => readFunctions(service(edit), "/service")).toThrow(DeployError);
    expect(() => readFunctions(service(edit), "/service")).toThrow(message);
  });

  it("takes the shared gateway without an instance id", () => {
    const fn = readOne(
      service((d) => {
        d.functions = {
          fn: {
            handler: "i.h",
            events: [{ apiGateway: { type: "APIG", name: "api", groupId: "g", path: "/" } }],
          },
        };
      }),
    );
    expect(fn.triggers[0]?.type).toBe("APIG");
    expect(fn.triggers[0]?.eventData).not.toHaveProperty("instance_id");
  });
});
