import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { basename, relative } from "node:path";
import {
  type Checks,
  type DeployedTrigger,
  describeTrigger,
  type FunctionGraph,
  type TriggerSettings,
} from "./api";
import { DeployError } from "./errors";
import {
  descriptionWith,
  fingerprintOf,
  planFunction,
  planTriggers,
  splitDescription,
  type TriggerStep,
} from "./plan";
import {
  type DesiredFunction,
  functionNames,
  readFunctions,
  type ServiceDescription,
} from "./service";

/** What the three commands (deploy, info, remove) work with. */
export interface Context {
  functionGraph: FunctionGraph;
  service: ServiceDescription;
  serviceDir: string;
  /** Writes one line of the command's result. */
  write(line: string): void;
}

/** A function as deployed, with the triggers a caller may point things at. */
export interface DeployedFunctionSummary {
  name: string;
  urn: string;
  triggers: Array<{ type: string; name: string; status: string; url?: string; method?: string }>;
}

/**
 * What `${huawei:apiUrl}` resolves to before the deploy: a variable with this value gets the URL
 * of its function's API trigger, known only once the trigger exists. A URL, so that the
 * function's own configuration checks take it as one.
 */
export const API_URL_PLACEHOLDER = "https://api-trigger-url.pending.invalid/";

/** The API trigger's URL when this deploy keeps the trigger as it is (its URL stays). */
function keptApiUrl(steps: TriggerStep[]): string | undefined {
  for (const step of steps) {
    if ((step.kind === "unchanged" || step.kind === "status") && isApi(step.current)) {
      const url = step.current.event_data.invoke_url;
      if (typeof url === "string") return url;
    }
  }
  return undefined;
}

const isApi = (trigger: DeployedTrigger) => trigger.trigger_type_code !== "TIMER";

/** The variables with `${huawei:apiUrl}`'s value set to the URL, or left out while none is known. */
function withApiUrl(variables: Record<string, string>, url: string | undefined) {
  return Object.fromEntries(
    Object.entries(variables).flatMap(([name, value]) =>
      value !== API_URL_PLACEHOLDER ? [[name, value]] : url ? [[name, url]] : [],
    ),
  );
}

/** `deploy`: creates or updates each function, then its triggers; says what changed. */
export async function deploy(
  context: Context,
): Promise<{ changed: boolean; functions: DeployedFunctionSummary[] }> {
  const { functionGraph: fg, write } = context;
  let changed = false;
  const summaries: DeployedFunctionSummary[] = [];
  for (const desired of readFunctions(context.service, context.serviceDir)) {
    const name = desired.settings.name;
    const zip = readArtifact(desired.artifact, context.serviceDir);
    const code = { zip, filename: basename(desired.artifact) };
    const digest = createHash("sha512").update(zip).digest("hex");
    const current = await fg.show(name);
    const existing = current ? await fg.triggers(name) : [];
    const steps = planTriggers(desired.triggers, existing);
    // `${huawei:apiUrl}`: the API trigger's URL, now when the trigger stays, else once it exists.
    const awaitingUrl = Object.keys(desired.settings.userData).filter(
      (variable) => desired.settings.userData[variable] === API_URL_PLACEHOLDER,
    );
    const keptUrl = keptApiUrl(steps);
    const settings = {
      ...desired.settings,
      userData: withApiUrl(desired.settings.userData, keptUrl),
      description: descriptionWith(
        desired.settings.description,
        fingerprintOf(desired.settings.encryptedUserData, fg.urnOf(name)),
      ),
    };
    const plan = planFunction(settings, current ?? undefined, digest);
    if (plan.kind === "create") {
      await fg.create(settings, code);
      write(
        `function ${name}: created (${summaryOf(settings)}; code ${kib(zip.length)}, sha512 ${digest.slice(0, 12)}…)`,
      );
    } else if (plan.kind === "update") {
      if (plan.code) await fg.updateCode(name, code);
      if (plan.configuration.length > 0) await fg.updateConfig(settings);
      const what = [
        ...(plan.code ? [`code (${kib(zip.length)}, sha512 ${digest.slice(0, 12)}…)`] : []),
        ...plan.configuration,
      ];
      write(`function ${name}: updated: ${what.join("; ")}`);
    } else {
      write(`function ${name}: unchanged (code sha512 ${digest.slice(0, 12)}…, configuration)`);
    }
    changed ||= plan.kind !== "unchanged";
    const triggers: DeployedTrigger[] = [];
    for (const step of steps) {
      const result = await carryOut(step, name, fg, write);
      if (result) triggers.push(result);
      changed ||= step.kind !== "unchanged";
    }
    if (awaitingUrl.length > 0 && !keptUrl) {
      const url = triggers.filter(isApi).map((t) => t.event_data.invoke_url)[0];
      if (typeof url === "string") {
        await fg.updateConfig({
          ...settings,
          userData: withApiUrl(desired.settings.userData, url),
        });
        write(`function ${name}: ${awaitingUrl.join(", ")} set to the API trigger's URL`);
      } else {
        write(`function ${name}: ${awaitingUrl.join(", ")} left unset: it has no API trigger`);
      }
    }
    summaries.push(summarize(name, fg.urnOf(name), triggers));
  }
  write(changed ? "deployed" : "nothing changed: the deployment is as serverless.yml describes it");
  for (const summary of summaries) writeUrls(summary, write);
  return { changed, functions: summaries };
}

async function carryOut(
  step: TriggerStep,
  name: string,
  fg: FunctionGraph,
  write: (line: string) => void,
): Promise<DeployedTrigger | undefined> {
  switch (step.kind) {
    case "unchanged":
      write(`trigger ${describeTrigger(step.current)}: unchanged`);
      return step.current;
    case "delete":
      await fg.deleteTrigger(name, step.current);
      write(`trigger ${describeTrigger(step.current)}: deleted (${step.reason})`);
      return undefined;
    case "status":
      await fg.setTriggerStatus(name, step.current, step.desired.status);
      write(
        `trigger ${describeTrigger(step.current)}: ${step.current.trigger_status} → ${step.desired.status}`,
      );
      return { ...step.current, trigger_status: step.desired.status };
    case "replace": {
      // FunctionGraph updates nothing of a trigger but its status: a changed one is made anew.
      await fg.deleteTrigger(name, step.current);
      const created = await fg.createTrigger(name, step.desired, triggerChecks(step.desired));
      write(`trigger ${describeTrigger(created)}: replaced (${step.changed.join(", ")})`);
      return created;
    }
    case "create": {
      const created = await fg.createTrigger(name, step.desired, triggerChecks(step.desired));
      write(`trigger ${describeTrigger(created)}: created`);
      return created;
    }
  }
}

/** What to check when FunctionGraph refuses a trigger, in serverless.yml's terms. */
function triggerChecks(trigger: TriggerSettings): Checks {
  const data = trigger.eventData;
  if (trigger.type === "TIMER") {
    return {
      "FSS.1109": `the timer event ${String(data.name)}: schedule ${String(data.schedule)} (Rate: 1-60m, 1-24h or 1-30d; Cron: an expression with seconds)`,
      "FSS.1148": `the function already has a timer named ${String(data.name)}`,
      400: `the timer event ${String(data.name)} in serverless.yml`,
    };
  }
  const where = `API group ${String(data.group_id)}${data.instance_id ? ` of gateway ${String(data.instance_id)}` : ""}`;
  return {
    "FSS.1147": `the ${where} already has an API at ${String(data.req_method)} ${String(data.path)} (another function's trigger, or an API made in the console): change the path in serverless.yml, or delete that API`,
    "FSS.1146": `the ${where} already has an API named ${String(data.name)}: rename the apiGateway event, or delete that API`,
    "FSS.1107": `the apiGateway event ${String(data.name)}: the group id and gateway instance id (--param apigGroupId, apigInstanceId), path, method and auth`,
    404: `the ${where}: that the group and the gateway exist in this region`,
    409: `the ${where}: an API with this name or path exists`,
    400: `the apiGateway event ${String(data.name)} in serverless.yml`,
  };
}

/** `info`: each function, its state and version, and its triggers with their URLs. */
export async function info(context: Context): Promise<DeployedFunctionSummary[]> {
  const { functionGraph: fg, write } = context;
  const summaries: DeployedFunctionSummary[] = [];
  for (const name of functionNames(context.service)) {
    const current = await fg.show(name);
    if (!current) {
      throw new DeployError(
        `function ${name} is not deployed in ${fg.region} (project ${fg.projectId}): npm run deploy creates it`,
      );
    }
    const triggers = await fg.triggers(name);
    const vpc = current.func_vpc?.vpc_id
      ? `${current.func_vpc.vpc_id}, subnet ${current.func_vpc.subnet_id ?? ""}`
      : "none";
    let variables: string[] = [];
    try {
      variables = Object.keys(JSON.parse(current.user_data || "{}") as object).sort();
    } catch {
      variables = [];
    }
    write(`function ${name}`);
    write(
      `  state       deployed, version ${current.version ?? "latest"}, last modified ${current.last_modified ?? "?"}`,
    );
    write(`  urn         ${current.func_urn}`);
    write(
      `  settings    ${current.runtime}, ${current.handler}, ${current.memory_size} MB, ${current.timeout} s, agency ${current.xrole || "(none)"}`,
    );
    write(
      `  code        ${kib(current.code_size ?? 0)}, sha512 ${(current.digest ?? "").slice(0, 12)}…`,
    );
    write(`  variables   ${variables.join(", ") || "(none)"}`);
    const [, fingerprint] = splitDescription(current.description ?? "");
    write(`  encrypted   ${fingerprint ? "set by the last deploy" : "(none)"}`);
    write(`  VPC         ${vpc}`);
    write(`  triggers    ${triggers.length === 0 ? "(none)" : ""}`);
    for (const trigger of triggers) {
      const data = trigger.event_data;
      const detail =
        trigger.trigger_type_code === "TIMER"
          ? `${String(data.schedule_type)} ${String(data.schedule)}`
          : `${String(data.req_method)} ${String(data.invoke_url ?? data.path)} (auth ${String(data.auth)})`;
      write(`    ${describeTrigger(trigger)}  ${trigger.trigger_status}  ${detail}`);
    }
    summaries.push(summarize(name, current.func_urn, triggers));
  }
  return summaries;
}

/** `remove`: each function with its triggers (FunctionGraph deletes them with it). */
export async function remove(context: Context): Promise<void> {
  const { functionGraph: fg, write } = context;
  for (const name of functionNames(context.service)) {
    if (!(await fg.show(name))) {
      write(`function ${name}: not deployed in ${fg.region}, nothing to remove`);
      continue;
    }
    const triggers = await fg.triggers(name);
    await fg.remove(name);
    write(
      `function ${name}: removed${triggers.length > 0 ? `, with its triggers ${triggers.map(describeTrigger).join(", ")}` : ""}`,
    );
  }
}

function summarize(
  name: string,
  urn: string,
  triggers: DeployedTrigger[],
): DeployedFunctionSummary {
  return {
    name,
    urn,
    triggers: triggers.map((trigger) => ({
      type: trigger.trigger_type_code,
      name: String(trigger.event_data.name ?? trigger.trigger_id),
      status: trigger.trigger_status,
      url:
        typeof trigger.event_data.invoke_url === "string"
          ? trigger.event_data.invoke_url
          : undefined,
      method:
        typeof trigger.event_data.req_method === "string"
          ? trigger.event_data.req_method
          : undefined,
    })),
  };
}

function writeUrls(summary: DeployedFunctionSummary, write: (line: string) => void): void {
  for (const trigger of summary.triggers) {
    if (trigger.url)
      write(`${trigger.type} ${trigger.name}: ${trigger.method ?? "ANY"} ${trigger.url}`);
  }
}

function readArtifact(path: string, serviceDir: string): Buffer {
  try {
    return readFileSync(path);
  } catch {
    throw new DeployError(
      `${relative(serviceDir, path)} is missing: build it first (npm run package), then deploy`,
    );
  }
}

function summaryOf(settings: DesiredFunction["settings"]): string {
  return [
    settings.runtime,
    settings.handler,
    `${settings.memorySize} MB`,
    `${settings.timeout} s`,
    settings.agency ? `agency ${settings.agency}` : "no agency",
    `${Object.keys(settings.userData).length} variables`,
    `${Object.keys(settings.encryptedUserData).length} encrypted`,
    settings.vpc ? `VPC ${settings.vpc.vpcId}` : "no VPC",
  ].join(", ");
}

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}
