import { scryptSync } from "node:crypto";
import type { WebhookPolicy, WebhookPolicyBody } from "../swr/webhooks";

/**
 * The webhook policy this product keeps in each namespace of an SWR Enterprise instance, and
 * what to do about what a namespace holds. Pure: reconcile.ts lists and acts.
 *
 * A policy is this product's when it has this name AND its description starts with the mark: a
 * policy someone else named the same is never touched. SWR may not give back the secret it sends
 * (`auth_header`), so whether the header is current is read from a fingerprint of it kept in the
 * description (scrypt, salted with the instance id: it says whether the header changed and nothing
 * of it).
 */

export const POLICY_NAME = "swr-scan-on-push";
export const MANAGED_MARK = "Managed by swr-scan-on-push";

export interface WireTarget {
  instanceId: string;
  /** The function's trigger URL, without `instance_id`. */
  url: string;
  /** The header name the function reads the secret from (WEBHOOK_SECRET_HEADER). */
  header: string;
  /** The secret the policy sends: the first of WEBHOOK_SECRET's values. */
  secret: string;
}

/** The trigger address of an instance: the function's URL with `?instance_id=<id>`. */
export function addressFor(url: string, instanceId: string): string {
  const address = new URL(url);
  address.searchParams.set("instance_id", instanceId);
  return address.toString();
}

/** The function's URL back from an address this product wrote (its `instance_id` removed). */
export function urlOfAddress(address: string): string | undefined {
  try {
    const url = new URL(address);
    url.searchParams.delete("instance_id");
    return url.toString();
  } catch {
    return undefined;
  }
}

export function headerFingerprint(target: WireTarget): string {
  return scryptSync(
    `${target.header}:${target.secret}`,
    `swr-scan-on-push:${target.instanceId}`,
    12,
  ).toString("hex");
}

/** The policy as it should be: every tag of every repository, on push, to the function. */
export function desiredPolicy(target: WireTarget, fingerprint: string): WebhookPolicyBody {
  const selector = (decoration: string) => ({
    kind: "doublestar" as const,
    decoration,
    pattern: "**",
  });
  return {
    name: POLICY_NAME,
    description: `${MANAGED_MARK}: each pushed image is scanned by HSS. Header fingerprint ${fingerprint}.`,
    targets: [
      {
        type: "http",
        address: addressFor(target.url, target.instanceId),
        auth_header: `${target.header}:${target.secret}`,
        skip_cert_verify: false,
        address_type: "internet",
      },
    ],
    scope_rules: [
      {
        tag_selectors: [selector("matches")],
        scope_selectors: { repository: [selector("repoMatches")] },
        repo_scope_mode: "regular",
      },
    ],
    event_types: ["PUSH_ARTIFACT"],
    enabled: true,
  };
}

export const isManaged = (policy: WebhookPolicy) =>
  policy.name === POLICY_NAME && (policy.description ?? "").startsWith(MANAGED_MARK);

export type Decision =
  | { kind: "create" }
  | { kind: "unchanged" }
  | { kind: "update"; policy: WebhookPolicy; changes: string[] }
  | { kind: "replace"; policy: WebhookPolicy; changes: string[] }
  | { kind: "skip"; reason: string };

/** What a namespace needs, from the policies it holds. */
export function decide(policies: WebhookPolicy[], desired: WebhookPolicyBody): Decision {
  const named = policies.filter((policy) => policy.name === POLICY_NAME);
  const ours = named.filter(isManaged);
  if (named.length > ours.length) {
    return {
      kind: "skip",
      reason: `a policy named ${POLICY_NAME} that this product did not create is there: left alone (rename or delete it to let the wiring manage this namespace)`,
    };
  }
  const [policy] = ours;
  if (!policy) return { kind: "create" };
  const want = desired.targets[0];
  const have = policy.targets[0] ?? {};
  // SWR lets no target's address, type or address type change: those mean delete and create.
  const fixed = (["address", "address_type", "type"] as const).filter(
    (field) => have[field] !== want?.[field],
  );
  if (fixed.length > 0) {
    const changes = fixed.map((field) => `${field} ${have[field] ?? "none"} → ${want?.[field]}`);
    return { kind: "replace", policy, changes };
  }
  const changes = differences(policy, desired);
  return changes.length === 0 ? { kind: "unchanged" } : { kind: "update", policy, changes };
}

function differences(policy: WebhookPolicy, desired: WebhookPolicyBody): string[] {
  const changes: string[] = [];
  const have = policy.targets[0] ?? {};
  const want = desired.targets[0];
  if (policy.description !== desired.description) changes.push("secret header");
  if (policy.enabled !== true) changes.push("enabled");
  if (policy.event_types.join(",") !== desired.event_types.join(",")) changes.push("event types");
  if (JSON.stringify(scopeOf(policy)) !== JSON.stringify(desired.scope_rules))
    changes.push("scope");
  if ((have.skip_cert_verify ?? false) !== want?.skip_cert_verify)
    changes.push("certificate check");
  return changes;
}

/** The scope rules as this product writes them, whatever extra fields SWR answers with. */
function scopeOf(policy: WebhookPolicy) {
  return policy.scope_rules.map((rule) => ({
    tag_selectors: (rule.tag_selectors ?? []).map(selectorOf),
    scope_selectors: { repository: (rule.scope_selectors?.repository ?? []).map(selectorOf) },
    repo_scope_mode: rule.repo_scope_mode,
  }));
}

const selectorOf = (selector: { kind?: string; decoration?: string; pattern?: string }) => ({
  kind: selector.kind,
  decoration: selector.decoration,
  pattern: selector.pattern,
});
