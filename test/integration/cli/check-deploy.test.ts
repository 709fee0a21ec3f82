import { type AddressInfo, createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { emulatorEnvironment } from "../../../src/emulator/hss-emulator";
import { startLocalServer } from "../../../src/runners/server";
import { SAMPLE_WEBHOOK_SECRET } from "../../support/fixtures";
import { type Harness, startHarness } from "../../support/harness";
import { runLocalTool } from "../../support/local-tool";
import { startRedis } from "../../support/redis-server";

function checkDeploy(env: Record<string, string>, ...args: string[]) {
  return runLocalTool("cli/check-deploy.ts", args, { PATH: process.env.PATH, ...env });
}

/** The post-deploy check against a function served over HTTP, as a deployed trigger would be. */
describe("npm run check-deploy", () => {
  let harness: Harness;
  let url: string;
  let close: () => void;
  beforeAll(async () => {
    harness = await startHarness({ SCAN_QUEUE: "memory" });
    const started = await startLocalServer({
      port: 0,
      handler: (event, context) => harness.invoke(event, context as object),
    });
    url = started.url;
    close = () => started.server.close();
  });
  afterAll(async () => {
    close();
    await harness.close();
  });

  it("passes a correct setup in plain words, and nothing reaches HSS", async () => {
    const run = await checkDeploy(
      { WEBHOOK_SECRET: SAMPLE_WEBHOOK_SECRET },
      `${url}/swr-scan-on-push?instance_id=ee-instance`,
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /^ok {3}authentication: the webhook secret in the authorization header was accepted$/m,
    );
    expect(run.stdout).toMatch(/^ok {3}dry run: nothing was sent to HSS$/m);
    expect(run.stdout).toMatch(/^ok {3}parsing: read as harbor-default, event PUSH_ARTIFACT$/m);
    expect(run.stdout).toMatch(
      /^ok {3}mapping: would scan test-webhook\/debian:latest on instance ee-instance/m,
    );
    expect(run.stdout).toMatch(
      /^ok {3}HSS: http:\/\/127.0.0.1:\d+ \(region cn-north-4\), project id configured, credentials: an access key/m,
    );
    expect(run.stdout).toMatch(/^ok {3}queue: memory, reachable/m);
    expect(run.stdout).toMatch(/the deployment is ready/);
    expect(harness.emulator.received).toHaveLength(0);
  });

  it("says when the secret is wrong", async () => {
    const run = await checkDeploy(
      { WEBHOOK_SECRET: "not-the-secret-at-all-123" },
      `${url}/x?instance_id=i`,
    );
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      /^FAIL authentication: the webhook secret in the authorization header was refused/m,
    );
    expect(run.stdout).not.toContain("not-the-secret-at-all-123");
  });

  it("says when no instance id is known for the registry", async () => {
    const run = await checkDeploy({ WEBHOOK_SECRET: SAMPLE_WEBHOOK_SECRET }, `${url}/x`);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      /^FAIL instance id: no SWR Enterprise instance id for registry hub.harbor.com/m,
    );
    expect(harness.emulator.received).toHaveLength(0);
  });

  it("fails when the function accepts deliveries without a secret", async () => {
    // Prepare: a function deployed with authentication off
    const open = await startHarness({ SCAN_QUEUE: "memory", WEBHOOK_AUTH: "none" });
    const served = await startLocalServer({
      port: 0,
      handler: (event, context) => open.invoke(event, context as object),
    });
    try {
      // Act: the check, with the secret the trigger would send
      const run = await checkDeploy(
        { WEBHOOK_SECRET: SAMPLE_WEBHOOK_SECRET },
        `${served.url}/x?instance_id=ee-instance`,
      );

      // Assess
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(
        /^FAIL authentication: the function accepts deliveries WITHOUT a secret \(WEBHOOK_AUTH=none\)/m,
      );
      expect(run.stdout).not.toMatch(/secret in the authorization header was accepted/);
      expect(run.stdout).toMatch(/1 check\(s\) failed/);
    } finally {
      served.server.close();
      await open.close();
    }
  });

  it("says when the function cannot be reached", async () => {
    // A port that was just free: nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const run = await checkDeploy(
      { WEBHOOK_SECRET: SAMPLE_WEBHOOK_SECRET },
      `http://127.0.0.1:${port}/x`,
    );
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^FAIL could not reach http:\/\/127.0.0.1:\d+\/x: ECONNREFUSED/m);
  });

  it("learns how HSS records an enterprise instance's instance_url before the first push, and the function shows it", async () => {
    // Prepare: an HSS recording enterprise images by the registry's address, one image listed;
    // the function and this machine share the Redis queue
    const redis = await startRedis();
    const host = "swr-ee-cd.example.com";
    const instances = JSON.stringify({ [host]: "inst-cd" });
    const deployed = await startHarness(
      { SCAN_QUEUE: redis.url, SWR_INSTANCES: instances },
      { emulator: { instanceUrlForm: "https://{host}" } },
    );
    deployed.emulator.push({
      image_type: "instance_image",
      namespace: "team",
      image_name: "app",
      image_version: "1",
      instance_id: "inst-cd",
      host,
      synced: true,
    });
    const served = await startLocalServer({
      port: 0,
      handler: (event, context) => deployed.invoke(event, context as object),
    });
    try {
      // Act: the check, with the HSS credentials and settings of the deployment here
      const run = await checkDeploy(
        {
          ...emulatorEnvironment(deployed.emulator),
          WEBHOOK_SECRET: SAMPLE_WEBHOOK_SECRET,
          SCAN_QUEUE: redis.url,
          SWR_INSTANCES: instances,
        },
        `${served.url}/x?instance_id=inst-cd`,
      );

      // Assess: HSS's record read once, and the function sends its form
      expect(run.stdout).toMatch(
        /^ok {3}instance inst-cd: HSS records instance_url "https:\/\/swr-ee-cd\.example\.com"; in use here: https:\/\/swr-ee-cd\.example\.com — learned from HSS at \d{4}-/m,
      );
      expect(run.stdout).toMatch(
        /^ok {3}instance inst-cd: instance_url https:\/\/swr-ee-cd\.example\.com — learned from HSS at/m,
      );
      expect(run.code).toBe(0);
      expect(deployed.emulator.received.map((request) => request.method)).toEqual(["GET"]);
    } finally {
      served.server.close();
      await deployed.close();
      await redis.close();
    }
  });
});
