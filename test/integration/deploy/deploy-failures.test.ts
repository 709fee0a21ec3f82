import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  EMULATOR_KEY,
  startFunctionGraphEmulator,
} from "../../../deploy/emulator/functiongraph-emulator";
import {
  DEPLOY_PARAMS,
  deployEnvironment,
  eventOf,
  functionGraphStandIn,
  type SlsRun,
  serviceCopy,
  sls,
  theFunction,
} from "../../support/deploy";
import { ROOT } from "../../support/local-tool";

/**
 * How a deploy fails: every refusal ends the command with a non-zero exit and one clear message
 * (the step, FunctionGraph's status, error code, message and request id, and what to check), and
 * never prints a credential or a secret, whether the refusal came from FunctionGraph, IAM or this
 * project's own checks before any request.
 */

const WRONG_SK = "not-the-secret-key-of-this-access-key-000";
const standIn = functionGraphStandIn();

async function failing(args: string[], cwd = ROOT, environment = standIn.env): Promise<SlsRun> {
  const result = await sls(args, environment, cwd, [WRONG_SK]);
  expect(result.code, result.output).not.toBe(0);
  return result;
}

describe("a deploy FunctionGraph or IAM refuses", { timeout: 60_000 }, () => {
  it("exits non-zero on a 401, naming the access key's source and the clock", async () => {
    // Act
    const result = await failing(
      ["deploy", ...DEPLOY_PARAMS, `--param=projectId=${standIn.fg.projectId}`],
      ROOT,
      { ...standIn.env, HUAWEICLOUD_SDK_SK: WRONG_SK },
    );

    // Assess
    expect(result.output).toMatch(
      /reading function swr-scan-on-push failed: HTTP 401 APIGW\.0301 "Incorrect IAM authentication information: signature does not match" \(request id [0-9a-f]{32}\)/,
    );
    expect(result.output).toContain(
      "Check: the access key from the environment (HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK): that it is right and enabled",
    );
  });

  it("exits non-zero on a 403, naming the permissions to check", async () => {
    // Prepare
    standIn.fg.failNext({
      status: 403,
      errorCode: "FSS.0403",
      errorMsg: "Forbidden",
      match: { method: "POST", path: /\/fgs\/functions$/ },
    });

    // Act
    const result = await failing(["deploy", ...DEPLOY_PARAMS]);

    // Assess
    expect(result.output).toMatch(
      /creating function swr-scan-on-push failed: HTTP 403 FSS\.0403 "Forbidden" \(request id \w+\)/,
    );
    expect(result.output).toContain("Check: the deploying user's permissions in this project");
    expect(standIn.fg.functions().size).toBe(0);
  });

  it("names the IAM permission when the project id must be looked up and may not be", async () => {
    // Prepare
    const strict = await startFunctionGraphEmulator({ canListProjects: false });

    // Act
    const result = await failing(["deploy", ...DEPLOY_PARAMS], ROOT, deployEnvironment(strict));
    await strict.close();

    // Assess
    expect(result.output).toContain("looking up the project id of cn-north-4 with IAM");
    expect(result.output).toContain("HTTP 403");
    expect(result.output).toContain("iam:projects:listProjects");
    expect(result.output).toContain('--param="projectId=<id>"');
  });

  it("exits non-zero on a 400 for a field FunctionGraph refuses, naming the setting", async () => {
    // Prepare
    const service = serviceCopy((manifest) => {
      manifest.provider.runtime = "Node.js99.1";
    });

    // Act
    const result = await failing(["deploy", ...DEPLOY_PARAMS], service);

    // Assess
    expect(result.output).toMatch(
      /creating function swr-scan-on-push failed: HTTP 400 FSS\.1005 "Invalid runtime\."/,
    );
    expect(result.output).toContain("Check: provider.runtime (Node.js99.1)");
  });

  it("exits non-zero when another function's API holds the trigger's path in the group", async () => {
    // Prepare: another deployment with the same API path in the same group
    const other = serviceCopy((manifest) => {
      theFunction(manifest).name = "another-function";
      eventOf(manifest, "apiGateway").name = "another_api";
      eventOf(manifest, "timer").name = "another_timer";
    });
    expect((await sls(["deploy", ...DEPLOY_PARAMS], standIn.env, other)).code).toBe(0);

    // Act
    const result = await failing(["deploy", ...DEPLOY_PARAMS]);

    // Assess
    expect(result.output).toContain(
      'creating the DEDICATEDGATEWAY trigger swr_scan_on_push failed: HTTP 409 FSS.1147 "The request path already exists."',
    );
    expect(result.output).toContain(
      "already has an API at POST /swr-scan-on-push (another function's trigger, or an API made in the console)",
    );
    expect(standIn.fg.triggers("swr-scan-on-push").map((t) => t.trigger_type_code)).toEqual([]);
  });

  it("refuses more variables than FunctionGraph takes before sending anything", async () => {
    // Prepare
    // Every one a variable the function reads, at its default: 21 with serverless.yml's own.
    const defaults = {
      HSS_BATCH_SIZE: "1024",
      HSS_RATE_WINDOW_SECONDS: "61",
      HSS_TIMEOUT_MS: "2000",
      HSS_CONCURRENCY: "2",
      HSS_RETRY_ATTEMPTS: "4",
      HSS_RETRY_BASE_MS: "200",
      HTTP_DEADLINE_MS: "2500",
      FOLLOW_UP_TIMEOUT_SECONDS: "3600",
      DEDUPE_WINDOW_SECONDS: "600",
      FOLLOW_UP_INTERVAL_SECONDS: "20",
      QUEUE_LEASE_SECONDS: "60",
      QUEUE_MAX_ATTEMPTS: "20",
      QUEUE_RETRY_MAX_SECONDS: "300",
      QUEUE_TIMEOUT_MS: "1000",
    };
    const service = serviceCopy((manifest) => {
      Object.assign(manifest.provider.environment, defaults);
    });

    // Act
    const result = await failing(["deploy", ...DEPLOY_PARAMS], service);

    // Assess
    expect(result.output).toMatch(
      /functions\.swr-scan-on-push: 21 environment variables \(\d+ bytes\); FunctionGraph takes at most 20/,
    );
    expect(standIn.fg.received.filter((request) => request.path.includes("/fgs/"))).toEqual([]);
  });
});

describe("a deploy without what it needs", { timeout: 60_000 }, () => {
  it("names the credentials it looked for when there are none", async () => {
    // Prepare
    const { HUAWEICLOUD_SDK_AK: _ak, HUAWEICLOUD_SDK_SK: _sk, ...noKeys } = standIn.env;

    // Act
    const result = await failing(["deploy", ...DEPLOY_PARAMS], ROOT, noKeys);

    // Assess
    expect(result.output).toContain(
      "no credentials to deploy with: set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK, or write access_key_id and secret_access_key to",
    );
    expect(standIn.fg.received).toEqual([]);
  });

  it("deploys with a credentials file that has a [default] section", async () => {
    // Prepare
    const { HUAWEICLOUD_SDK_AK: _ak, HUAWEICLOUD_SDK_SK: _sk, ...noKeys } = standIn.env;
    const folder = join(String(noKeys.HOME), ".huaweicloud");
    mkdirSync(folder, { recursive: true });
    writeFileSync(
      join(folder, "credentials"),
      `[default]\naccess_key_id = ${EMULATOR_KEY.ak}\nsecret_access_key = ${EMULATOR_KEY.sk}\n`,
    );

    // Act
    const result = await sls(["deploy", ...DEPLOY_PARAMS], noKeys);

    // Assess
    expect(result.code, result.output).toBe(0);
    expect(result.stdout).toContain(
      `credentials from ${join(folder, "credentials")} (its [default] section)`,
    );
  });

  it("names the missing API group id", async () => {
    // Act
    const result = await failing([
      "deploy",
      ...DEPLOY_PARAMS.filter((param) => !param.includes("apigGroupId")),
    ]);

    // Assess
    expect(result.output).toContain("apiGateway.groupId is empty");
    expect(result.output).toContain('--param="apigGroupId=<id>"');
  });

  it("refuses a deploy without a webhook secret: the trigger would answer every delivery 401", async () => {
    // Act
    const result = await failing([
      "deploy",
      ...DEPLOY_PARAMS.filter((param) => !param.includes("webhookSecret")),
    ]);

    // Assess
    expect(result.output).toContain("no webhook secret");
    expect(result.output).toContain('--param="webhookSecret=<16 or more characters>"');
    expect(standIn.fg.received).toEqual([expect.objectContaining({ path: "/v3/projects" })]);
  });

  it("refuses a secret in plain environment and a configuration the function would refuse", async () => {
    // Prepare
    const service = serviceCopy((manifest) => {
      manifest.provider.environment.NOTIFY_WEBHOOK_URL = "https://hooks.example.com/T000/B000/xyz";
      manifest.provider.environment.HSS_SCAN_API = "scan-task";
      manifest.provider.environment.HSS_TYPO = "1";
    });

    // Act
    const result = await failing(["deploy", ...DEPLOY_PARAMS], service);

    // Assess
    expect(result.output).toContain(
      "NOTIFY_WEBHOOK_URL is a secret: set it under encryptedEnvironment (FunctionGraph's encrypted variables), not environment",
    );
    expect(result.output).toContain("HSS_TYPO is not a variable the function reads");
    expect(result.output).toContain("HSS_SCAN_API: scan-task needs a scan queue (SCAN_QUEUE)");
    expect(result.output).not.toContain("hooks.example.com/T000/B000/xyz");
  });

  it("names the region when the account has no project there", async () => {
    // Act
    const result = await failing([
      "deploy",
      ...DEPLOY_PARAMS.map((p) => (p === "cn-north-4" ? "eu-west-101" : p)),
    ]);

    // Assess
    expect(result.output).toContain("the account has no project named eu-west-101");
  });
});
