import { scryptSync } from "node:crypto";
import type { DeployedFunction, DeployedTrigger, FunctionSettings, TriggerSettings } from "./api";
import { familyOf } from "./service";

/**
 * Decides, without calling anything, what a deploy changes: the function (create, or update its
 * code and/or configuration) and each trigger (create, replace, set its status, delete). The
 * deploy carries the decisions out; `info` and the tests read them.
 */

export type FunctionPlan =
  | { kind: "create" }
  | { kind: "update"; code: boolean; configuration: string[] }
  | { kind: "unchanged" };

/**
 * FunctionGraph keeps encrypted variables encrypted and does not give them back, so a deploy
 * cannot compare them with what it would send. It remembers a fingerprint of them instead, at the
 * end of the function's description: scrypt of the variables, salted with the function's URN, so
 * that the description says whether they changed and nothing about their values.
 */
const FINGERPRINT = /\s*\(encrypted variables: ([0-9a-f]{16})\)$/;

export function fingerprintOf(variables: Record<string, string>, urn: string): string | undefined {
  const entries = Object.entries(variables).sort(([a], [b]) => (a < b ? -1 : 1));
  if (entries.length === 0) return undefined;
  return scryptSync(JSON.stringify(entries), `swr-scan-on-push ${urn}`, 8).toString("hex");
}

/** The description FunctionGraph keeps: the one in serverless.yml, and the fingerprint. */
export function descriptionWith(description: string, fingerprint: string | undefined): string {
  return fingerprint ? `${description} (encrypted variables: ${fingerprint})`.trim() : description;
}

export function planFunction(
  desired: FunctionSettings,
  current: DeployedFunction | undefined,
  codeDigest: string,
): FunctionPlan {
  if (!current) return { kind: "create" };
  const changes: string[] = [];
  const compare = (label: string, was: unknown, now: unknown, unit = "") => {
    if ((was ?? "") !== (now ?? ""))
      changes.push(`${label} ${show(was)}${unit} → ${show(now)}${unit}`);
  };
  compare("runtime", current.runtime, desired.runtime);
  compare("handler", current.handler, desired.handler);
  compare("memory", current.memory_size, desired.memorySize, " MB");
  compare("timeout", current.timeout, desired.timeout, " s");
  compare("agency", current.xrole, desired.agency);
  const [description, secrets] = splitDescription(current.description ?? "");
  const [wanted, wantedSecrets] = splitDescription(desired.description);
  if (description !== wanted) changes.push("description");
  if (secrets !== wantedSecrets) changes.push("encrypted variables");
  const variables = variableChanges(parseVariables(current.user_data), desired.userData);
  if (variables) changes.push(`variables ${variables}`);
  const vpc = (v: { vpc_id?: string; subnet_id?: string } | null | undefined) =>
    v?.vpc_id ? `${v.vpc_id}/${v.subnet_id ?? ""}` : "none";
  compare(
    "VPC",
    vpc(current.func_vpc),
    vpc(desired.vpc && { vpc_id: desired.vpc.vpcId, subnet_id: desired.vpc.subnetId }),
  );
  const code = current.digest !== codeDigest;
  if (!code && changes.length === 0) return { kind: "unchanged" };
  return { kind: "update", code, configuration: changes };
}

/** A deployed description: the one from serverless.yml, and the fingerprint when there is one. */
export function splitDescription(text: string): [string, string | undefined] {
  const match = FINGERPRINT.exec(text);
  return match ? [text.slice(0, match.index), match[1]] : [text, undefined];
}

function parseVariables(text: string | undefined): Record<string, string> {
  if (!text) return {};
  try {
    const parsed = JSON.parse(text) as unknown;
    return parsed && typeof parsed === "object" ? (parsed as Record<string, string>) : {};
  } catch {
    return {};
  }
}

/** `+ADDED -REMOVED ~CHANGED` by name (values are not shown). */
function variableChanges(was: Record<string, string>, now: Record<string, string>): string {
  const names = [...new Set([...Object.keys(was), ...Object.keys(now)])].sort();
  return names
    .map((name) =>
      !(name in was)
        ? `+${name}`
        : !(name in now)
          ? `-${name}`
          : was[name] !== now[name]
            ? `~${name}`
            : "",
    )
    .filter(Boolean)
    .join(" ");
}

function show(value: unknown): string {
  return value === undefined || value === null || value === "" ? "(none)" : String(value);
}

export type TriggerStep =
  | { kind: "create"; desired: TriggerSettings }
  | { kind: "replace"; current: DeployedTrigger; desired: TriggerSettings; changed: string[] }
  | { kind: "status"; current: DeployedTrigger; desired: TriggerSettings }
  | { kind: "delete"; current: DeployedTrigger; reason: string }
  | { kind: "unchanged"; current: DeployedTrigger };

/**
 * The deployment owns its function's API gateway and timer triggers: each one serverless.yml
 * describes is created, kept, or (when a setting changed) replaced, since FunctionGraph updates
 * nothing of a trigger but its status; one it no longer describes, or a second one of the same
 * name, is deleted. Triggers of other kinds (added by hand: OBS, SMN, …) are left alone.
 * Deletions come first, so that a replaced API frees its path before it is created again.
 */
export function planTriggers(
  desired: TriggerSettings[],
  current: DeployedTrigger[],
): TriggerStep[] {
  const owned = current.filter((trigger) => familyOf(trigger.trigger_type_code) !== "other");
  const keyOf = (type: string, name: unknown) => `${familyOf(type)} ${String(name)}`;
  const claimed = new Set<DeployedTrigger>();
  const steps: TriggerStep[] = [];
  const kept: TriggerStep[] = [];
  for (const wanted of desired) {
    const key = keyOf(wanted.type, wanted.eventData.name);
    const match = owned.find(
      (trigger) =>
        !claimed.has(trigger) && keyOf(trigger.trigger_type_code, trigger.event_data.name) === key,
    );
    if (!match) {
      kept.push({ kind: "create", desired: wanted });
      continue;
    }
    claimed.add(match);
    const changed = triggerChanges(wanted, match);
    if (changed.length > 0)
      kept.push({ kind: "replace", current: match, desired: wanted, changed });
    else if (match.trigger_status !== wanted.status)
      kept.push({ kind: "status", current: match, desired: wanted });
    else kept.push({ kind: "unchanged", current: match });
  }
  for (const trigger of owned) {
    if (claimed.has(trigger)) continue;
    const named = desired.some(
      (wanted) =>
        keyOf(wanted.type, wanted.eventData.name) ===
        keyOf(trigger.trigger_type_code, trigger.event_data.name),
    );
    steps.push({
      kind: "delete",
      current: trigger,
      reason: named ? "a second trigger of that name" : "not in serverless.yml",
    });
  }
  return [...steps, ...kept];
}

/** The settings that differ, in serverless.yml's terms where they have one. */
function triggerChanges(wanted: TriggerSettings, current: DeployedTrigger): string[] {
  const changed: string[] = [];
  if (wanted.type !== current.trigger_type_code) {
    changed.push(`type ${current.trigger_type_code} → ${wanted.type}`);
  }
  for (const [field, value] of Object.entries(wanted.eventData)) {
    const was = current.event_data[field];
    if (field === "func_info") {
      const timeout = (value as { timeout?: unknown }).timeout;
      const before = (was as { timeout?: unknown } | undefined)?.timeout;
      if (timeout !== before) changed.push(`timeout ${show(before)} → ${show(timeout)} ms`);
    } else if (String(was ?? "") !== String(value ?? "")) {
      changed.push(`${field} ${show(was)} → ${show(value)}`);
    }
  }
  return changed;
}
