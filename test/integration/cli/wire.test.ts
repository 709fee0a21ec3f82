import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { EMULATOR_KEY } from "../../../src/emulator/hss-emulator";
import { type SwrEmulator, startSwrEmulator } from "../../../src/emulator/swr-emulator";
import { MANAGED_MARK } from "../../../src/wiring/policy";
import { forgedPolicy } from "../../support/fixtures";
import { runLocalTool } from "../../support/local-tool";

/**
 * `npm run wire` as a user runs it, against the SWR Enterprise stand-in over loopback: the real
 * command in its own process, SWR's calls signed and checked.
 */

const INSTANCE = "ee-instance-1";
const URL = "https://4f2a.apic.cn-north-4.huaweicloudapis.com/swr-scan-on-push";
const SECRET = "first-webhook-secret-0123456789";
const ROTATED = "second-webhook-secret-9876543210";

let swr: SwrEmulator;
let env: Record<string, string>;

beforeEach(async () => {
  swr = await startSwrEmulator();
  for (const namespace of ["team-a", "team-b", "platform"]) swr.addNamespace(INSTANCE, namespace);
  env = {
    PATH: process.env.PATH as string,
    HSS_REGION: "cn-north-4",
    SWR_ENDPOINT: swr.url,
    HSS_PROJECT_ID: swr.projectId,
    CLOUD_SDK_AK: EMULATOR_KEY.ak,
    CLOUD_SDK_SK: EMULATOR_KEY.sk,
    WEBHOOK_SECRET: SECRET,
  };
});
afterEach(() => swr.close());

const wire = (extra: Record<string, string>, ...args: string[]) =>
  runLocalTool("cli/wire.ts", ["--instance-id", INSTANCE, ...args], { ...env, ...extra });

/** The changes the stand-in received (everything but the lists). */
const changes = () => swr.received.filter((request) => request.method !== "GET");

function expectNoSecret(output: string) {
  for (const secret of [SECRET, ROTATED, EMULATOR_KEY.sk]) expect(output).not.toContain(secret);
}

/** Every address SWR was ever told to send the webhook secret to. */
const secretSentTo = () =>
  new Set(
    swr.targetsWritten
      .filter((target) => target.auth_header?.includes(SECRET))
      .map((target) => target.address),
  );

describe("npm run wire against policies anyone could have written", () => {
  it.each([
    ["before", true],
    ["after", false],
  ])(
    "sends the secret only to the configured address, a forged policy listed %s its own",
    async (_, forgedFirst) => {
      // Prepare: someone allowed to manage team-b's triggers made a policy that looks like ours
      const attacker = "https://attacker.example/steal?k=v";
      if (forgedFirst) swr.addPolicy(INSTANCE, "team-b", forgedPolicy(attacker));
      const first = await wire({}, "--url", URL);
      if (!forgedFirst)
        swr.addPolicy(INSTANCE, "team-b", forgedPolicy(attacker, "swr-scan-on-push-b"));

      // Act: the wiring run again by hand, then as a rotation would
      const run = await wire({ SWR_WIRE_URL: URL });
      const rotated = await wire({ SWR_WIRE_URL: URL, WEBHOOK_SECRET: `${SECRET}x,${SECRET}` });

      // Assess: the secret went to the configured address only; the forged policy is gone, reported
      expect(run.code, run.stderr).toBe(0);
      expect(rotated.code, rotated.stderr).toBe(0);
      expect([...secretSentTo()]).toEqual([`${URL}?instance_id=${INSTANCE}`]);
      const addresses = swr.policies(INSTANCE).map((policy) => policy.targets[0]?.address);
      expect(addresses).toEqual(Array(3).fill(`${URL}?instance_id=${INSTANCE}`));
      const report = forgedFirst ? first.stderr : run.stderr;
      expect(report).toMatch(
        /warning: ee-instance-1\/team-b: policy \d+ carries this product's name and mark but sends to https:\/\/attacker\.example\/steal, not to this run's address: corrected/,
      );
      expect(report).not.toContain("k=v");
    },
  );
});

describe("npm run wire", () => {
  it("wires every namespace of a fresh instance with the address, header and scope the trigger needs", async () => {
    // Act
    const run = await wire({}, "--url", URL);

    // Assess: the table, and what SWR holds
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(
      /^ee-instance-1 +team-a +created +https:\/\/4f2a\S+\?instance_id=ee-instance-1 \(authorization: \*\*\*\*\)$/m,
    );
    expect(run.stdout).toMatch(/^3 created$/m);
    expectNoSecret(run.stdout + run.stderr);
    const policies = swr.policies(INSTANCE);
    expect(policies.map((policy) => policy.namespace_name).sort()).toEqual([
      "platform",
      "team-a",
      "team-b",
    ]);
    for (const policy of policies) {
      expect(policy).toMatchObject({
        name: "swr-scan-on-push",
        enabled: true,
        event_types: ["PUSH_ARTIFACT"],
        targets: [
          {
            type: "http",
            address: `${URL}?instance_id=${INSTANCE}`,
            auth_header: `authorization:${SECRET}`,
            address_type: "internet",
            skip_cert_verify: false,
          },
        ],
        scope_rules: [
          {
            tag_selectors: [{ kind: "doublestar", pattern: "**" }],
            scope_selectors: { repository: [{ kind: "doublestar", pattern: "**" }] },
            repo_scope_mode: "regular",
          },
        ],
      });
      expect(policy.description).toMatch(new RegExp(`^${MANAGED_MARK}`));
    }
  });

  it("is idempotent: run again (the URL from SWR_WIRE_URL) it changes nothing", async () => {
    await wire({}, "--url", URL);
    const before = changes().length;

    const again = await wire({ SWR_WIRE_URL: URL });

    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^3 unchanged$/m);
    expect(changes()).toHaveLength(before);
  });

  it("covers a new namespace and rolls a rotated secret out to every policy", async () => {
    await wire({}, "--url", URL);
    swr.addNamespace(INSTANCE, "team-c");

    // Act: the new secret first, the old one still accepted by the function meanwhile
    const run = await wire({ WEBHOOK_SECRET: `${ROTATED},${SECRET}`, SWR_WIRE_URL: URL });

    // Assess
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^ee-instance-1 +team-c +created/m);
    expect(run.stdout).toMatch(/^ee-instance-1 +team-a +updated +secret header$/m);
    expect(run.stdout).toMatch(/^3 updated, 1 created$/m);
    const headers = swr.policies(INSTANCE).map((policy) => policy.targets[0]?.auth_header);
    expect(headers).toEqual(Array(4).fill(`authorization:${ROTATED}`));
    expectNoSecret(run.stdout + run.stderr);
  });

  it("leaves policies it did not create alone, even one of its name", async () => {
    // Prepare: a policy someone made in team-a, and one named like ours in platform
    const foreign = {
      name: "registry-audit",
      targets: [
        { type: "http", address: "https://audit.example.com/hook", address_type: "internet" },
      ],
      scope_rules: [
        {
          tag_selectors: [{ kind: "doublestar", decoration: "matches", pattern: "v*" }],
          scope_selectors: {
            repository: [{ kind: "doublestar", decoration: "repoMatches", pattern: "**" }],
          },
          repo_scope_mode: "regular",
        },
      ],
      event_types: ["PUSH_ARTIFACT"],
      enabled: false,
    };
    swr.addPolicy(INSTANCE, "team-a", foreign);
    swr.addPolicy(INSTANCE, "platform", { ...foreign, name: "swr-scan-on-push" });
    const untouched = swr.policies(INSTANCE);

    // Act
    const run = await wire({}, "--url", URL);
    const unwired = await wire({}, "--unwire");

    // Assess: ours came and went; theirs stayed exactly as they were
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /^ee-instance-1 +platform +skipped +a policy named swr-scan-on-push that this product did not create/m,
    );
    expect(run.stdout).toMatch(/^ee-instance-1 +team-a +created/m);
    expect(unwired.code).toBe(0);
    expect(unwired.stdout).toMatch(/^ee-instance-1 +team-a +removed/m);
    expect(unwired.stdout).toMatch(/^ee-instance-1 +team-b +removed/m);
    expect(unwired.stdout).toMatch(/^ee-instance-1 +platform +skipped/m);
    expect(swr.policies(INSTANCE)).toEqual(untouched);
  });

  it("--dry-run prints the same table and changes nothing", async () => {
    const run = await wire({}, "--url", URL, "--dry-run");

    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^ee-instance-1 +team-a +would be created +https:/m);
    expect(run.stdout).toMatch(/^3 would be created \(dry run: nothing was changed\)$/m);
    const json = await wire({}, "--url", URL, "--dry-run", "--json");
    expect(JSON.parse(json.stdout)).toMatchObject({
      dry_run: true,
      rows: [
        { instance_id: INSTANCE, namespace: "team-a", action: "created" },
        { namespace: "team-b", action: "created" },
        { namespace: "platform", action: "created" },
      ],
      errors: [],
    });
    expect(changes()).toEqual([]);
  });

  it("--dry-run runs without WEBHOOK_SECRET and masks the secret it would send", async () => {
    await wire({}, "--url", URL);
    swr.addNamespace(INSTANCE, "team-c");

    const run = await wire({ WEBHOOK_SECRET: "" }, "--url", URL, "--dry-run");

    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(
      /^ee-instance-1 +team-c +would be created +https:\S+\?instance_id=ee-instance-1 \(authorization: \*\*\*\*\)$/m,
    );
    // Whether a header is current cannot be told without the secret: not reported as a change.
    expect(run.stdout).toMatch(
      /^3 unchanged, 1 would be created \(dry run: nothing was changed\)$/m,
    );
    expectNoSecret(run.stdout + run.stderr);
  });

  it("replaces a policy whose address changed: the new one first, then the old one deleted", async () => {
    await wire({}, "--url", URL);
    const ids = swr.policies(INSTANCE).map((policy) => policy.id);

    const run = await wire({}, "--url", "https://new-gateway.example.com/swr-scan-on-push");

    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^3 replaced$/m);
    expect(run.stdout).toMatch(
      /^ee-instance-1 +team-a +replaced +https:\/\/new-gateway\S+ \(authorization: \*\*\*\*\): created before deleting policy \d+ \(to https:\/\/4f2a\S+\/swr-scan-on-push\)/m,
    );
    const now = swr.policies(INSTANCE);
    expect(now.map((policy) => policy.targets[0]?.address)).toEqual(
      Array(3).fill(`https://new-gateway.example.com/swr-scan-on-push?instance_id=${INSTANCE}`),
    );
    expect(now.map((policy) => policy.name)).toEqual(Array(3).fill("swr-scan-on-push-b"));
    expect(now.filter((policy) => ids.includes(policy.id))).toEqual([]);
    // Each namespace's create came before its delete.
    const calls = changes().map((request) => `${request.method} ${request.path.split("/")[6]}`);
    for (const namespace of ["team-a", "team-b", "platform"]) {
      expect(calls.lastIndexOf(`POST ${namespace}`)).toBeLessThan(
        calls.lastIndexOf(`DELETE ${namespace}`),
      );
    }
  });

  it("leaves the old policy when the replacement cannot be created, and says so", async () => {
    await wire({}, "--url", URL);
    const before = swr.policies(INSTANCE);
    swr.failNamespace("team-b", 500, "SVCSTG.SWR.5000001", "internal error", 1);

    const run = await wire({}, "--url", "https://new-gateway.example.com/swr-scan-on-push");

    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      /^ee-instance-1 +team-b +failed +could not create the new policy: HTTP 500 SVCSTG\.SWR\.5000001: internal error.*; policy \d+ \(to https:\/\/4f2a\S+\) left as it was$/m,
    );
    const teamB = swr.policies(INSTANCE).filter((policy) => policy.namespace_name === "team-b");
    expect(teamB).toEqual(before.filter((policy) => policy.namespace_name === "team-b"));
    // Run again, it finishes what failed.
    const again = await wire({}, "--url", "https://new-gateway.example.com/swr-scan-on-push");
    expect(again.stdout).toMatch(/^ee-instance-1 +team-b +replaced/m);
    expect(again.stdout).toMatch(/^2 unchanged, 1 replaced$/m);
  });

  it.each([
    ["an HTML page", 201, "<html><body>OK</body></html>"],
    ["an empty body", 201, ""],
    ["a JSON array", 200, "[]"],
    ["an id that is not a number", 201, '{"id":"12"}'],
  ])(
    "counts a 2xx create answered with %s as failed, naming what came",
    async (_, status, body) => {
      swr.answerNamespace("team-a", status, body);

      const run = await wire({}, "--url", URL);

      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(
        /^ee-instance-1 +team-a +failed +could not create the new policy: HTTP 20\d BAD_ANSWER: SWR answered CreateInstanceWebhook with HTTP 20\d but not with its CreateInstanceWebhookResponse/m,
      );
      expect(run.stdout).toMatch(/^1 failed, 2 created$/m);
    },
  );

  it("fails, naming the list, when SWR's list answer is not the model's", async () => {
    const proxy = await startSwrEmulator();
    const page = createServer((_request, response) => {
      response.writeHead(200, { "content-type": "text/html" });
      response.end("<html>login</html>");
    });
    await new Promise<void>((resolve) => page.listen(0, "127.0.0.1", resolve));
    try {
      const port = (page.address() as AddressInfo).port;
      const run = await wire({ SWR_ENDPOINT: `http://127.0.0.1:${port}` }, "--url", URL);

      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(
        /instance ee-instance-1: ListInstanceNamespaces failed: HTTP 200 BAD_ANSWER: the endpoint answered HTTP 200 with a body that is not JSON \("<html>login<\/html>"\)/,
      );
    } finally {
      page.close();
      await proxy.close();
    }
  });

  it("wires only the namespaces matching --namespaces", async () => {
    const run = await wire({}, "--url", URL, "--namespaces", "team-*");

    expect(run.code).toBe(0);
    expect(
      swr
        .policies(INSTANCE)
        .map((policy) => policy.namespace_name)
        .sort(),
    ).toEqual(["team-a", "team-b"]);
  });

  it("names the namespace and SWR's answer when one fails, does the rest, and exits 1", async () => {
    swr.failNamespace("team-b", 403, "SVCSTG.SWR.4030002", "no permission to manage triggers");

    const run = await wire({}, "--url", URL);

    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      /^ee-instance-1 +team-b +failed +could not create the new policy: HTTP 403 SVCSTG\.SWR\.4030002: no permission to manage triggers/m,
    );
    expect(
      swr
        .policies(INSTANCE)
        .map((policy) => policy.namespace_name)
        .sort(),
    ).toEqual(["platform", "team-a"]);
  });

  it("waits out SWR's rate limit (429) and finishes what it throttled", async () => {
    swr.failNamespace("team-b", 429, "APIGW.0308", "The throttling threshold has been reached", 2);

    const run = await wire({ HSS_RATE_WINDOW_SECONDS: "1" }, "--url", URL);

    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stderr).toMatch(/SWR throttled some calls: again in 1 s \(attempt 2 of 3\)/);
    expect(run.stderr).toMatch(/attempt 3 of 3/);
    expect(run.stdout).toMatch(/^ee-instance-1 +team-b +created/m);
    expect(run.stdout).toMatch(/^3 created$/m);
    expect(swr.policies(INSTANCE)).toHaveLength(3);
  });

  it("says when SWR refuses the credentials, naming the call, without the key", async () => {
    const run = await wire({ CLOUD_SDK_SK: "not-the-secret-key-at-all" }, "--url", URL);

    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /instance ee-instance-1: ListInstanceNamespaces failed: HTTP 401 APIGW\.0301/,
    );
    expect(run.stderr).not.toContain("not-the-secret-key-at-all");
  });

  it("refuses to run without a trigger URL of its own, calling nothing, whatever policies say", async () => {
    swr.addPolicy(INSTANCE, "team-a", forgedPolicy("https://attacker.example/steal"));

    const run = await wire({});

    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/no trigger URL: give --url/);
    expect(swr.received).toEqual([]);
  });

  it("refuses to run without an instance id or a secret, listing what is missing", async () => {
    const none = await runLocalTool("cli/wire.ts", [], env);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--instance-id is required/);
    const noSecret = await wire({ WEBHOOK_SECRET: "" }, "--url", URL);
    expect(noSecret.code).toBe(2);
    expect(noSecret.stderr).toMatch(/WEBHOOK_SECRET: the secret the policies send/);
  });
});
