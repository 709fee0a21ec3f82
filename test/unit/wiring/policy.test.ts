import { describe, expect, it } from "vitest";
import type { WebhookPolicy } from "../../../src/swr/webhooks";
import {
  addressFor,
  type Decision,
  decide,
  desiredPolicy,
  headerFingerprint,
  POLICY_NAME,
  shownAddress,
} from "../../../src/wiring/policy";

const target = {
  instanceId: "ee-1",
  url: "https://gw.example.com/swr-scan-on-push",
  header: "authorization",
  secret: "a-webhook-secret-0123456789",
};
const desired = desiredPolicy(target, headerFingerprint(target));
/** A policy as SWR lists it after this product created it. */
const listed = (change: Partial<WebhookPolicy> = {}): WebhookPolicy => ({
  id: 7,
  namespace_name: "team-a",
  ...structuredClone(desired),
  targets: desired.targets.map((t) => ({ ...t })),
  ...change,
});

/** A decision in a line: what is created, kept (and updated), deleted. */
function summary(decision: Decision): string {
  if (decision.kind === "skip") return "skip";
  const { create, keep, remove } = decision;
  return [
    ...(create ? [`create ${create}`] : []),
    ...(keep
      ? [
          keep.changes.length > 0
            ? `update ${keep.policy.id}: ${keep.changes.join(", ")}`
            : `keep ${keep.policy.id}`,
        ]
      : []),
    ...remove.map((policy) => `delete ${policy.id}`),
  ].join("; ");
}

const elsewhere = (id: number, address = "https://attacker.example/steal") =>
  listed({
    id,
    targets: [{ ...desired.targets[0], address, auth_header: "authorization:theirs" }],
  });

describe("the wiring's decision for a namespace", () => {
  it.each<[string, WebhookPolicy[], string, number[]?]>([
    ["nothing there", [], "create swr-scan-on-push"],
    ["its policy as it should be", [listed()], "keep 7"],
    [
      "another policy only",
      [listed({ name: "audit", description: "theirs" })],
      "create swr-scan-on-push",
    ],
    ["a policy of its name it did not create", [listed({ description: "made by hand" })], "skip"],
    [
      "a policy of its second name it did not create",
      [listed({ name: `${POLICY_NAME}-b`, description: "made by hand" })],
      "skip",
    ],
    ["disabled", [listed({ enabled: false })], "update 7: enabled"],
    [
      "a rotated secret",
      [
        listed({
          description: desired.description?.replace(/[0-9a-f]{24}\.$/, "000000000000000000000000."),
        }),
      ],
      "update 7: secret header",
    ],
    ["another event type", [listed({ event_types: ["DELETE_ARTIFACT"] })], "update 7: event types"],
    [
      "a narrower scope",
      [
        listed({
          scope_rules: [
            {
              tag_selectors: [{ kind: "doublestar", decoration: "matches", pattern: "v*" }],
              scope_selectors: {
                repository: [{ kind: "doublestar", decoration: "repoMatches", pattern: "**" }],
              },
              repo_scope_mode: "regular",
            },
          ],
        }),
      ],
      "update 7: scope",
    ],
    [
      "another address: the new one is created first, under the name left free",
      [elsewhere(7, "https://old.example.com/x?instance_id=ee-1")],
      `create ${POLICY_NAME}-b; delete 7`,
      [7],
    ],
    [
      "another address, under the second name",
      [{ ...elsewhere(7), name: `${POLICY_NAME}-b` }],
      `create ${POLICY_NAME}; delete 7`,
      [7],
    ],
    [
      "another address type",
      [listed({ targets: [{ ...desired.targets[0], address_type: "internal" }] })],
      `create ${POLICY_NAME}-b; delete 7`,
      [7],
    ],
    [
      "a forged policy listed before its own",
      [elsewhere(3), listed({ id: 9, name: `${POLICY_NAME}-b` })],
      "keep 9; delete 3",
      [3],
    ],
    [
      "a forged policy listed after its own",
      [listed({ id: 9, name: `${POLICY_NAME}-b` }), elsewhere(3)],
      "keep 9; delete 3",
      [3],
    ],
    [
      "two of its own (a delete that failed)",
      [listed({ id: 4 }), listed({ id: 5, name: `${POLICY_NAME}-b` })],
      "keep 4; delete 5",
      [],
    ],
  ])("%s → %s", (_, policies, expected, sentElsewhere = []) => {
    const decision = decide(policies, desired);
    expect(summary(decision)).toBe(expected);
    if (decision.kind === "act") {
      expect(decision.elsewhere.map((policy) => policy.id)).toEqual(sentElsewhere);
    }
  });

  it("says why a policy is replaced, the address shown without its query", () => {
    const decision = decide([elsewhere(7, "https://u:pw@old.example.com/x?token=t0ken")], desired);
    expect(decision).toMatchObject({
      changes: ["address https://old.example.com/x → https://gw.example.com/swr-scan-on-push"],
    });
    expect(JSON.stringify(decision.kind === "act" && decision.changes)).not.toMatch(/t0ken|pw/);
  });

  it("leaves the header alone when it cannot check it (a dry run without the secret)", () => {
    const rotated = listed({ description: `${desired.description} (older)` });
    expect(summary(decide([rotated], desired, { checkHeader: false }))).toBe("keep 7");
  });

  it("shows an address as scheme, host and path: never a query or a password", () => {
    expect(shownAddress("https://user:pass@hook.example.com:8443/a/b?token=x#y")).toBe(
      "https://hook.example.com:8443/a/b",
    );
    expect(shownAddress("not a url")).toBe("(not a URL)");
    expect(shownAddress(undefined)).toBe("none");
  });

  it("does not mind the extra fields SWR answers with (the auth header masked, ids, times)", () => {
    const answered = listed({
      targets: [{ ...desired.targets[0], auth_header: "authorization:******" }],
      scope_rules: desired.scope_rules.map((rule) => ({ ...rule, extras: "" }) as never),
    });
    expect(summary(decide([answered], desired))).toBe("keep 7");
  });

  it("names its policy for the product and puts the instance in the address", () => {
    expect(desired.name).toBe(POLICY_NAME);
    expect(desired.targets[0]?.address).toBe(addressFor(target.url, "ee-1"));
    expect(addressFor(target.url, "ee-1")).toBe(
      "https://gw.example.com/swr-scan-on-push?instance_id=ee-1",
    );
  });

  it("keeps a fingerprint of the header that changes with it and shows nothing of it", () => {
    const fingerprint = headerFingerprint(target);
    expect(desired.description).toContain(fingerprint);
    expect(desired.description).not.toContain(target.secret);
    expect(headerFingerprint({ ...target, secret: "another-secret-0123456789" })).not.toBe(
      fingerprint,
    );
    expect(headerFingerprint({ ...target, instanceId: "ee-2" })).not.toBe(fingerprint);
  });
});
