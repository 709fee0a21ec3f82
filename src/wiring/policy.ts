import { scryptSync } from "node:crypto";
import type { WebhookPolicy, WebhookPolicyBody } from "../swr/webhooks";

/**
 * The webhook policy this product keeps in each namespace of an SWR Enterprise instance, and
 * what to do about what a namespace holds. Pure: reconcile.ts lists and acts.
 *
 * A policy is this product's when it has one of its names AND its description starts with the
 * mark: a policy someone else named the same is never touched. SWR may not give back the secret it sends
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

/**
 * The names this product's policy goes by. SWR refuses a second policy of one name in a
 * namespace, and a replaced policy is created before the old one is deleted (so that the
 * namespace is never left unwired): the new one takes whichever name is free.
 */
export const POLICY_NAMES: readonly string[] = [POLICY_NAME, `${POLICY_NAME}-b`];

/**
 * Carries this product's name and mark. Both are free text that anyone allowed to manage one
 * namespace's triggers can write: a policy that says it is this product's is never trusted for
 * where it sends (the address always comes from this run's own settings), only recognised as one
 * to keep, correct or remove.
 */
export const isManaged = (policy: WebhookPolicy) =>
  POLICY_NAMES.includes(policy.name) && (policy.description ?? "").startsWith(MANAGED_MARK);

/** What a namespace needs: a policy to create, one to keep (updated or not), others to delete. */
export type Decision =
  | { kind: "skip"; reason: string }
  | {
      kind: "act";
      /** Create a policy under this name (before anything is deleted). */
      create?: string;
      /** The policy that stays, and what to update in it (nothing: unchanged). */
      keep?: { policy: WebhookPolicy; changes: string[] };
      /** This product's other policies: deleted once the namespace holds the right one. */
      remove: WebhookPolicy[];
      /** Of those, the ones that send somewhere else than this run's address. */
      elsewhere: WebhookPolicy[];
      /** Why a create replaces what is there (address, type or address type changed). */
      changes: string[];
    };

/** SWR lets no target's address, type or address type change: a change means a new policy. */
const FIXED_FIELDS = ["address", "address_type", "type"] as const;

function fixedChanges(policy: WebhookPolicy, desired: WebhookPolicyBody): string[] {
  const want = desired.targets[0];
  const have = policy.targets[0] ?? {};
  return FIXED_FIELDS.filter((field) => have[field] !== want?.[field]).map(
    (field) =>
      `${field} ${field === "address" ? shownAddress(have[field]) : (have[field] ?? "none")} → ${
        field === "address" ? shownAddress(want?.[field]) : want?.[field]
      }`,
  );
}

/**
 * An address as this product shows it (tables, logs): scheme, host and path only. The query may
 * hold a token, and user information a password; neither is shown.
 */
export function shownAddress(address: string | undefined): string {
  if (!address) return "none";
  try {
    const url = new URL(address);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return "(not a URL)";
  }
}

/** What a namespace needs, from the policies it holds. */
export function decide(
  policies: WebhookPolicy[],
  desired: WebhookPolicyBody,
  options: { checkHeader?: boolean } = {},
): Decision {
  const named = policies.filter((policy) => POLICY_NAMES.includes(policy.name));
  const ours = named.filter(isManaged);
  if (named.length > ours.length) {
    return {
      kind: "skip",
      reason: `a policy named ${named.find((p) => !isManaged(p))?.name} that this product did not create is there: left alone (rename or delete it to let the wiring manage this namespace)`,
    };
  }
  const elsewhere = ours.filter((policy) => fixedChanges(policy, desired).length > 0);
  const keeper = ours.find((policy) => !elsewhere.includes(policy));
  const others = ours.filter((policy) => policy !== keeper);
  if (keeper) {
    const changes = differences(keeper, desired, options.checkHeader ?? true);
    return {
      kind: "act",
      keep: { policy: keeper, changes },
      remove: others,
      elsewhere,
      changes: [],
    };
  }
  const held = new Set(policies.map((policy) => policy.name));
  const name = POLICY_NAMES.find((candidate) => !held.has(candidate)) as string;
  const [first] = ours;
  return {
    kind: "act",
    create: name,
    remove: others,
    elsewhere,
    changes: first ? fixedChanges(first, desired) : [],
  };
}

function differences(
  policy: WebhookPolicy,
  desired: WebhookPolicyBody,
  checkHeader: boolean,
): string[] {
  const changes: string[] = [];
  const have = policy.targets[0] ?? {};
  const want = desired.targets[0];
  if (checkHeader && policy.description !== desired.description) changes.push("secret header");
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
