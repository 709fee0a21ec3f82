import type { Credentials } from "./config";

/**
 * The invocation context as FunctionGraph (Node.js runtime) and AWS Lambda give it. Every
 * accessor is optional: the two platforms differ, and FunctionGraph documents some getters for
 * other runtimes only (getProjectID), so each is feature-detected.
 */
export interface PlatformContext {
  // FunctionGraph
  getRequestID?: () => string;
  getRemainingTimeInMilliSeconds?: () => number;
  getSecurityAccessKey?: () => string;
  getSecuritySecretKey?: () => string;
  getSecurityToken?: () => string;
  getProjectID?: () => string;
  getUserData?: (key: string) => string | undefined;
  // AWS Lambda
  awsRequestId?: string;
  getRemainingTimeInMillis?: () => number;
}

export function requestIdOf(context: PlatformContext | undefined): string | undefined {
  return callSafely(context, "getRequestID") ?? context?.awsRequestId;
}

export function remainingTimeOf(context: PlatformContext | undefined): number | undefined {
  const remaining =
    callSafely(context, "getRemainingTimeInMilliSeconds") ??
    callSafely(context, "getRemainingTimeInMillis");
  return typeof remaining === "number" && Number.isFinite(remaining) ? remaining : undefined;
}

/** The temporary credentials of the function's agency, when FunctionGraph provides them. */
export function agencyCredentialsOf(context: PlatformContext | undefined): Credentials | undefined {
  const ak = callSafely(context, "getSecurityAccessKey");
  const sk = callSafely(context, "getSecuritySecretKey");
  if (!ak || !sk) return undefined;
  return { ak, sk, securityToken: callSafely(context, "getSecurityToken") || undefined };
}

/** When the platform does not tell the remaining time, an invocation gets this much. */
const DEFAULT_BUDGET_MS = 60_000;

/**
 * The time by which every HSS call must have ended: the platform's remaining time less a safety
 * margin (so that the answer is written before the platform ends the invocation) and, for HTTP
 * deliveries, no later than the sender waits (Harbor gives up after 3 s by default).
 */
export function deadlineOf(
  context: PlatformContext | undefined,
  limits: { marginMs: number; httpMs?: number },
): number {
  const remaining = remainingTimeOf(context);
  const platformBudget = remaining === undefined ? DEFAULT_BUDGET_MS : remaining - limits.marginMs;
  return Date.now() + Math.min(platformBudget, limits.httpMs ?? Number.POSITIVE_INFINITY);
}

/**
 * The function's variables: the environment, and for each variable it leaves unset, the value
 * FunctionGraph gives through `context.getUserData` (the way it hands a Node.js function its
 * encrypted variables, which need not be in the environment).
 */
export function variablesOf(
  env: NodeJS.ProcessEnv,
  context: PlatformContext | undefined,
  names: readonly string[],
): NodeJS.ProcessEnv {
  if (typeof context?.getUserData !== "function") return env;
  const variables: NodeJS.ProcessEnv = { ...env };
  for (const name of names) {
    if (variables[name]?.trim()) continue;
    let value: unknown;
    try {
      value = context.getUserData(name);
    } catch {
      value = undefined;
    }
    if (typeof value === "string" && value.trim() !== "") variables[name] = value;
  }
  return variables;
}

export function projectIdOf(context: PlatformContext | undefined): string | undefined {
  return callSafely(context, "getProjectID") || undefined;
}

type Getter = {
  [K in keyof PlatformContext]-?: NonNullable<PlatformContext[K]> extends () => unknown ? K : never;
}[keyof PlatformContext];

// Called as methods: the platform's getters may depend on `this`.
function callSafely<K extends Getter>(
  context: PlatformContext | undefined,
  name: K,
): ReturnType<NonNullable<PlatformContext[K]>> | undefined {
  if (typeof context?.[name] !== "function") return undefined;
  try {
    return (context[name] as () => ReturnType<NonNullable<PlatformContext[K]>>).call(context);
  } catch {
    return undefined;
  }
}
