import { resolve } from "node:path";
import type { FunctionSettings, TriggerSettings } from "./api";
import { DeployError } from "./errors";

/**
 * serverless.yml, as the framework resolved it, read into what is to be deployed: each function's
 * settings and triggers in FunctionGraph's terms. Everything FunctionGraph would refuse that can
 * be known without asking it (a missing id, more variables than it takes) is refused here, before
 * any request, naming the setting.
 */

type Variables = Record<string, unknown>;

interface FunctionSection {
  name?: string;
  handler?: string;
  description?: string;
  runtime?: string;
  memorySize?: number;
  timeout?: number;
  agencyName?: string;
  environment?: Variables;
  encryptedEnvironment?: Variables;
  vpcId?: string;
  subnetId?: string;
  package?: { artifact?: string };
  events?: Array<Record<string, unknown>>;
}

/** The parts of the framework's resolved service this provider reads. */
export interface ServiceDescription {
  service: string;
  provider: FunctionSection & {
    stage?: string;
    region?: string;
    projectId?: string;
    credentials?: string;
    enterpriseProjectId?: string;
  };
  functions?: Record<string, FunctionSection>;
  package?: { artifact?: string };
}

export interface DesiredFunction {
  /** Its key under `functions:` in serverless.yml. */
  key: string;
  settings: FunctionSettings;
  triggers: TriggerSettings[];
  /** The zip to upload. */
  artifact: string;
}

/** FunctionGraph takes at most this many variables, and bytes of them, in each of the two sets. */
export const VARIABLE_LIMITS = { variables: 20, bytes: 4096 };

/** APIG's fixed id of its RELEASE environment. */
const RELEASE_ENVIRONMENT_ID = "DEFAULT_ENVIRONMENT_RELEASE_ID";

/** The FunctionGraph names of the functions serverless.yml describes (all `info` and `remove` need). */
export function functionNames(service: ServiceDescription): string[] {
  return functionsOf(service).map(([, , name]) => name);
}

function functionsOf(service: ServiceDescription): Array<[string, FunctionSection, string]> {
  const stage = service.provider.stage ?? "dev";
  const entries = Object.entries(service.functions ?? {});
  if (entries.length === 0) throw new DeployError("serverless.yml has no functions");
  return entries.map(([key, section]) => {
    // The framework's usual name when serverless.yml gives none.
    const name = section.name ?? `${service.service}-${stage}-${key}`;
    if (!/^[A-Za-z][A-Za-z0-9_-]{0,58}[A-Za-z0-9]$/.test(name)) {
      throw new DeployError(
        `functions.${key}.name (${name}): FunctionGraph takes 2-60 letters, digits, - and _, starting with a letter`,
      );
    }
    return [key, section, name];
  });
}

/** Everything a deploy sends, checked. */
export function readFunctions(service: ServiceDescription, serviceDir: string): DesiredFunction[] {
  const provider = service.provider;
  return functionsOf(service).map(([key, section, name]) => {
    const where = `functions.${key}`;
    const artifact = section.package?.artifact ?? service.package?.artifact;
    if (!artifact) {
      throw new DeployError(`${where}: no package.artifact (the zip that npm run package writes)`);
    }
    const runtime = section.runtime ?? provider.runtime;
    if (!runtime) throw new DeployError(`${where}: no runtime (provider.runtime)`);
    const agency = nonEmpty(section.agencyName ?? provider.agencyName);
    const userData = variablesOf(where, "environment", provider.environment, section.environment);
    const encryptedUserData = variablesOf(
      where,
      "encryptedEnvironment",
      provider.encryptedEnvironment,
      section.encryptedEnvironment,
    );
    const both = Object.keys(userData).filter((variable) => variable in encryptedUserData);
    if (both.length > 0) {
      throw new DeployError(
        `${where}: ${both.join(", ")} ${both.length === 1 ? "is" : "are"} set both in environment and in encryptedEnvironment; keep one`,
      );
    }
    const vpcId = nonEmpty(section.vpcId);
    const subnetId = nonEmpty(section.subnetId);
    if (Boolean(vpcId) !== Boolean(subnetId)) {
      throw new DeployError(
        `${where}: ${vpcId ? "subnetId" : "vpcId"} is empty but ${vpcId ? "vpcId" : "subnetId"} is not: give both (the function joins that VPC) or neither`,
      );
    }
    if (vpcId && !agency) {
      throw new DeployError(
        `${where}: a function in a VPC needs an agency (provider.agencyName) with VPC access`,
      );
    }
    return {
      key,
      artifact: resolve(serviceDir, artifact),
      settings: {
        name,
        runtime,
        handler: section.handler ?? "",
        memorySize: section.memorySize ?? provider.memorySize ?? 128,
        timeout: section.timeout ?? provider.timeout ?? 30,
        agency,
        description: section.description ?? "",
        userData,
        encryptedUserData,
        vpc: vpcId && subnetId ? { vpcId, subnetId } : undefined,
        enterpriseProjectId: nonEmpty(provider.enterpriseProjectId),
      },
      triggers: triggersOf(where, section.events ?? []),
    };
  });
}

/**
 * Provider-level variables with the function's over them. A variable left empty (an optional
 * `${param:…, ''}` not given) is not sent: the function treats an empty variable as unset anyway.
 */
function variablesOf(
  where: string,
  field: string,
  ...levels: Array<Variables | undefined>
): Record<string, string> {
  const merged = mergeVariables(...levels);
  const count = Object.keys(merged).length;
  const bytes = Buffer.byteLength(JSON.stringify(merged));
  if (count > VARIABLE_LIMITS.variables || bytes > VARIABLE_LIMITS.bytes) {
    throw new DeployError(
      `${where}: ${count} ${field} variables (${bytes} bytes); FunctionGraph takes at most ${VARIABLE_LIMITS.variables} and ${VARIABLE_LIMITS.bytes} bytes: leave out the ones at their defaults`,
    );
  }
  return merged;
}

/** The non-empty variables of the levels given, each over the ones before it. */
export function mergeVariables(...levels: Array<Variables | undefined>): Record<string, string> {
  const merged: Record<string, string> = {};
  for (const level of levels) {
    for (const [variable, value] of Object.entries(level ?? {})) {
      const text = value === null || value === undefined ? "" : String(value);
      if (text === "") delete merged[variable];
      else merged[variable] = text;
    }
  }
  return merged;
}

function triggersOf(where: string, events: Array<Record<string, unknown>>): TriggerSettings[] {
  const triggers = events.map((event, index) => {
    const [kind, ...others] = Object.keys(event);
    const at = `${where}.events[${index}]`;
    const settings = (kind ? event[kind] : undefined) as Record<string, unknown> | undefined;
    if (others.length > 0 || !settings || typeof settings !== "object") {
      throw new DeployError(`${at}: one key per event, apiGateway or timer`);
    }
    if (kind === "apiGateway") return apiTrigger(at, settings);
    if (kind === "timer") return timerTrigger(settings);
    throw new DeployError(`${at}: ${kind} events are not supported (apiGateway, timer)`);
  });
  const seen = new Set<string>();
  for (const trigger of triggers) {
    const key = `${familyOf(trigger.type)} ${String(trigger.eventData.name)}`;
    if (seen.has(key)) {
      throw new DeployError(
        `${where}: two ${familyOf(trigger.type)} triggers are named ${String(trigger.eventData.name)}`,
      );
    }
    seen.add(key);
  }
  return triggers;
}

function apiTrigger(at: string, event: Record<string, unknown>): TriggerSettings {
  const type = (nonEmpty(event.type as string | undefined) ?? "DEDICATEDGATEWAY") as string;
  const groupId = nonEmpty(event.groupId as string | undefined);
  const instanceId = nonEmpty(event.instanceId as string | undefined);
  if (!groupId) {
    throw new DeployError(
      `${at}.apiGateway.groupId is empty: give the id of the API group the trigger's API goes into (--param="apigGroupId=<id>")`,
    );
  }
  if (type === "DEDICATEDGATEWAY" && !instanceId) {
    throw new DeployError(
      `${at}.apiGateway.instanceId is empty: a dedicated gateway trigger needs the gateway's instance id (--param="apigInstanceId=<id>"), or use the shared gateway (--param="gatewayType=APIG")`,
    );
  }
  const envName = (event.envName as string | undefined) ?? "RELEASE";
  const envId =
    (event.envId as string | undefined) ??
    (envName === "RELEASE" ? RELEASE_ENVIRONMENT_ID : undefined);
  if (!envId) {
    throw new DeployError(`${at}.apiGateway.envId: the id of environment ${envName} is required`);
  }
  return {
    type,
    status: "ACTIVE",
    eventData: {
      name: event.name,
      type: 1,
      path: event.path,
      protocol: event.protocol ?? "HTTPS",
      req_method: event.method ?? "ANY",
      match_mode: event.matchMode ?? "NORMAL",
      env_name: envName,
      env_id: envId,
      auth: event.auth ?? "IAM",
      group_id: groupId,
      ...(type === "DEDICATEDGATEWAY" ? { instance_id: instanceId } : {}),
      backend_type: "FUNCTION",
      func_info: { timeout: event.timeout ?? 5000 },
    },
  };
}

function timerTrigger(event: Record<string, unknown>): TriggerSettings {
  return {
    type: "TIMER",
    status: (event.status as "ACTIVE" | "DISABLED" | undefined) ?? "ACTIVE",
    eventData: {
      name: event.name,
      schedule_type: event.scheduleType ?? "Rate",
      schedule: event.schedule,
      user_event: event.userEvent ?? "",
    },
  };
}

/** Triggers of one family share names and can stand for each other (APIG, DEDICATEDGATEWAY). */
export function familyOf(type: string): "api" | "timer" | "other" {
  if (type === "TIMER") return "timer";
  if (type === "APIG" || type === "DEDICATEDGATEWAY") return "api";
  return "other";
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === null || String(value).trim() === ""
    ? undefined
    : String(value);
}
