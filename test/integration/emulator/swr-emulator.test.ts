import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSignedClient, type SignedCallError } from "../../../src/cloud/signed-client";
import { EMULATOR_KEY } from "../../../src/emulator/hss-emulator";
import { type SwrEmulator, startSwrEmulator } from "../../../src/emulator/swr-emulator";
import { swrWebhooks } from "../../../src/swr/webhooks";
import { desiredPolicy } from "../../../src/wiring/policy";
import { standInCaller } from "../../support/callers";

/** The SWR stand-in refuses what SWR's models and rules refuse, through the real signed client. */

let swr: SwrEmulator;
let client: ReturnType<typeof swrWebhooks>;
const INSTANCE = "ee-1";
const body = desiredPolicy(
  {
    instanceId: INSTANCE,
    url: "https://gw.example.com/x",
    header: "authorization",
    secret: "s".repeat(20),
  },
  "00",
);

beforeAll(async () => {
  swr = await startSwrEmulator();
  for (let i = 0; i < 230; i += 1) swr.addNamespace(INSTANCE, `ns-${i}`);
  client = swrWebhooks(standInCaller(swr, { region: "cn-north-4" }), 5000);
});
afterAll(() => swr.close());

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: SignedCallError) => [error.httpStatus, error.message],
  );

describe("the SWR Enterprise stand-in", () => {
  it("pages namespaces by 100, and lists every policy of the instance", async () => {
    const { names } = await client.namespaces(INSTANCE);
    expect(names).toHaveLength(230);
    await client.create(INSTANCE, "ns-1", body);
    const { policies } = await client.policies(INSTANCE);
    expect(policies).toEqual([
      expect.objectContaining({ name: body.name, namespace_name: "ns-1" }),
    ]);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ["a name with a space", { name: "my policy" }, /name/],
    [
      "two tag selectors",
      {
        scope_rules: [
          {
            ...body.scope_rules[0],
            tag_selectors: [
              body.scope_rules[0]?.tag_selectors[0],
              body.scope_rules[0]?.tag_selectors[0],
            ],
          },
        ],
      },
      /tag_selectors/,
    ],
    ["another event type", { event_types: ["DELETE_ARTIFACT"] }, /PUSH_ARTIFACT/],
    [
      "an internal address that is not private",
      { targets: [{ ...body.targets[0], address_type: "internal" }] },
      /private IP/,
    ],
    [
      "a malformed header",
      { targets: [{ ...body.targets[0], auth_header: "no-colon" }] },
      /auth_header/,
    ],
    ["an unknown field", { colour: "blue" }, /unknown field/],
    [
      "a tag selector decorated for repositories",
      {
        scope_rules: [
          {
            ...body.scope_rules[0],
            tag_selectors: [{ kind: "doublestar", decoration: "repoMatches", pattern: "**" }],
          },
        ],
      },
      /decoration: matches or excludes/,
    ],
  ])("refuses %s with 400", async (_, change, message) => {
    const [status, text] =
      (await refusal(client.create(INSTANCE, "ns-2", { ...body, ...change } as never))) ?? [];
    expect(status).toBe(400);
    expect(text).toMatch(message);
  });

  it("refuses a second policy of a name (409) and a changed address (400)", async () => {
    const { id } = await client.create(INSTANCE, "ns-3", body);
    expect((await refusal(client.create(INSTANCE, "ns-3", body)))?.[0]).toBe(409);
    const moved = {
      ...body,
      targets: [{ ...body.targets[0], address: "https://elsewhere.example.com/x" }],
    };
    const [status, text] =
      (await refusal(client.update(INSTANCE, "ns-3", id as number, moved as never))) ?? [];
    expect(status).toBe(400);
    expect(text).toMatch(/address cannot be changed/);
    const retyped = {
      ...body,
      targets: [{ ...body.targets[0], address_type: "internal", address: "http://10.0.0.8/x" }],
    };
    expect(
      (await refusal(client.update(INSTANCE, "ns-3", id as number, retyped as never)))?.[1],
    ).toMatch(/cannot be changed/);
  });

  it("refuses an unsigned or wrongly signed call with 401 APIGW.0301", async () => {
    const wrong = swrWebhooks(
      createSignedClient({
        endpoint: swr.url,
        projectId: swr.projectId,
        credentials: { ak: EMULATOR_KEY.ak, sk: "wrong", securityToken: undefined },
      }),
      5000,
    );
    const error = await wrong.namespaces(INSTANCE).catch((e: SignedCallError) => e);
    expect(error).toMatchObject({ httpStatus: 401, errorCode: "APIGW.0301" });
  });
});
