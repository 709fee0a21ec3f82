import { describe, expect, it } from "vitest";
import type { WebhookPolicy } from "../../../src/swr/webhooks";
import {
  addressFor,
  decide,
  desiredPolicy,
  headerFingerprint,
  POLICY_NAME,
  urlOfAddress,
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

describe("the wiring's decision for a namespace", () => {
  it.each<[string, WebhookPolicy[], string, string[]?]>([
    ["nothing there", [], "create"],
    ["its policy as it should be", [listed()], "unchanged"],
    ["another policy only", [listed({ name: "audit", description: "theirs" })], "create"],
    ["a policy of its name it did not create", [listed({ description: "made by hand" })], "skip"],
    ["disabled", [listed({ enabled: false })], "update", ["enabled"]],
    [
      "a rotated secret",
      [
        listed({
          description: desired.description?.replace(/[0-9a-f]{24}\.$/, "000000000000000000000000."),
        }),
      ],
      "update",
      ["secret header"],
    ],
    [
      "another event type",
      [listed({ event_types: ["DELETE_ARTIFACT"] })],
      "update",
      ["event types"],
    ],
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
      "update",
      ["scope"],
    ],
    [
      "another address",
      [
        listed({
          targets: [
            { ...desired.targets[0], address: "https://old.example.com/x?instance_id=ee-1" },
          ],
        }),
      ],
      "replace",
    ],
    [
      "another address type",
      [listed({ targets: [{ ...desired.targets[0], address_type: "internal" }] })],
      "replace",
      ["address_type internal → internet"],
    ],
  ])("%s → %s", (_, policies, kind, changes) => {
    const decision = decide(policies, desired);
    expect(decision.kind).toBe(kind);
    if (changes) expect(decision).toMatchObject({ changes });
  });

  it("does not mind the extra fields SWR answers with (the auth header masked, ids, times)", () => {
    const answered = listed({
      targets: [{ ...desired.targets[0], auth_header: "authorization:******" }],
      scope_rules: desired.scope_rules.map((rule) => ({ ...rule, extras: "" }) as never),
    });
    expect(decide([answered], desired).kind).toBe("unchanged");
  });

  it("names its policy for the product and puts the instance in the address", () => {
    expect(desired.name).toBe(POLICY_NAME);
    expect(desired.targets[0]?.address).toBe(addressFor(target.url, "ee-1"));
    expect(addressFor(target.url, "ee-1")).toBe(
      "https://gw.example.com/swr-scan-on-push?instance_id=ee-1",
    );
    expect(urlOfAddress(addressFor(target.url, "ee-1"))).toBe(target.url);
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
