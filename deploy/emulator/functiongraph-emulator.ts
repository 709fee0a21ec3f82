import { createHash, randomBytes, randomUUID } from "node:crypto";
import { createServer } from "node:http";
import {
  flattenHeaders,
  parseJson,
  readBody,
  SENSITIVE_HEADERS,
  serveOnLoopback,
} from "../../src/emulator/http";
import { type SigningKey, verifySignature } from "../../src/emulator/signature";

/**
 * A loopback stand-in for FunctionGraph's v2 API (functions, their code and configuration,
 * triggers) and for the one IAM call a deploy makes (KeystoneListProjects), over real HTTP. It
 * checks each request's AK/SK signature and project, keeps functions and triggers in memory, and
 * answers as FunctionGraph's API reference documents: the status codes and FSS error codes of its
 * "Error Codes" appendix, the bodies of the official SDK's response models, 404 FSS.1051 for a
 * missing function, 409 for names and API paths already taken, 400 for fields the service
 * refuses (runtime, memory, handler, the 20-variable and 4 KB limits of user_data, a schedule out
 * of range). It can be told to fail. What it does not model is said where it matters.
 */

export const EMULATOR_REGION = "cn-north-4";
export const EMULATOR_PROJECT_ID = "5f3e8d1c2b4a69780c1d2e3f4a5b6c7d";
export const EMULATOR_DOMAIN_ID = "9a8b7c6d5e4f30211203f4e5d6c7b8a9";
export const EMULATOR_KEY: SigningKey = {
  ak: "LOCALFUNCTIONGRAPHAK00",
  sk: "local-functiongraph-secret-key-not-a-real-one-0",
};

/**
 * FunctionGraph's runtimes: the official SDK's enumeration (3.1.211) and Node.js 20.15, which the
 * service offers (FunctionGraph's Node.js runtimes page) before the SDK's enumeration lists it.
 */
export const RUNTIMES = [
  "Java8",
  "Java11",
  "Java17",
  "Python2.7",
  "Python3.6",
  "Python3.9",
  "Python3.10",
  "Go1.8",
  "Go1.x",
  "Node.js6.10",
  "Node.js8.10",
  "Node.js10.16",
  "Node.js12.13",
  "Node.js14.18",
  "Node.js16.17",
  "Node.js18.15",
  "Node.js20.15",
  "C#(.NET Core 2.0)",
  "C#(.NET Core 2.1)",
  "C#(.NET Core 3.1)",
  "C#(.NET Core 6.0)",
  "Custom",
  "PHP7.3",
  "PHP8.3",
  "Cangjie1.0",
  "http",
  "Custom Image",
];
/** The memory sizes the API reference lists for memory_size (MB). */
export const MEMORY_SIZES = [
  128, 256, 512, 768, 1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096,
];
/** user_data and encrypted_user_data: at most 20 variables and 4 KB each (API reference). */
export const USER_DATA_LIMITS = { variables: 20, bytes: 4096 };
/** Triggers per function version (FunctionGraph's notes and constraints). */
export const MAX_TRIGGERS = 10;
/** The largest code package the API takes (FSS.1071). */
const MAX_CODE_BYTES = 50 * 1024 * 1024;
const MAX_BODY_BYTES = Math.ceil((MAX_CODE_BYTES * 4) / 3) + 64 * 1024;

/** A failure to play instead of a normal answer, for the first request that `match`es. */
export interface FunctionGraphFault {
  status: number;
  errorCode: string;
  errorMsg?: string;
  /** Which request gets it; any request when absent. */
  match?: { method?: string; path?: RegExp };
}

export interface FunctionRecord {
  func_id: string;
  func_name: string;
  package: string;
  runtime: string;
  handler: string;
  memory_size: number;
  timeout: number;
  code_type: string;
  code_filename: string;
  code_size: number;
  digest: string;
  /** The plain variables, as given. */
  user_data: Record<string, string>;
  /** The encrypted variables as given (a test looks here; the API never shows them). */
  encrypted_user_data: Record<string, string>;
  xrole?: string;
  description?: string;
  func_vpc?: { vpc_id: string; subnet_id: string };
  enterprise_project_id: string;
  last_modified: string;
}

export interface TriggerRecord {
  trigger_id: string;
  function: string;
  trigger_type_code: "TIMER" | "APIG" | "DEDICATEDGATEWAY";
  trigger_status: "ACTIVE" | "DISABLED";
  event_data: Record<string, unknown>;
  created_time: string;
  last_updated_time: string;
}

export interface FunctionGraphRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Headers as received, except Authorization and X-Security-Token. */
  headers: Record<string, string>;
  status: number;
  requestId: string;
}

export interface FunctionGraphEmulatorOptions {
  port?: number;
  keys?: readonly SigningKey[];
  projectId?: string;
  region?: string;
  /** Agencies (IAM) that exist: a function's xrole must be one of them. */
  agencies?: readonly string[];
  /** Whether the signing user may list IAM projects (iam:projects:listProjects). */
  canListProjects?: boolean;
  /** Called after each request (the command-line runner prints a line). */
  onRequest?: (request: FunctionGraphRequest) => void;
}

export interface FunctionGraphEmulator {
  /** The base URL for both FunctionGraph and IAM. */
  url: string;
  projectId: string;
  region: string;
  keys: readonly SigningKey[];
  received: FunctionGraphRequest[];
  /** The functions as stored, by name. */
  functions(): Map<string, FunctionRecord>;
  /** The triggers as stored, oldest first. */
  triggers(functionName?: string): TriggerRecord[];
  /** Queue faults; each is played once, on the first request it matches. */
  failNext(...faults: FunctionGraphFault[]): void;
  reset(): void;
  close(): Promise<void>;
}

/** The environment that points the deploy tools at an emulator. */
export function emulatorDeployEnvironment(emulator: FunctionGraphEmulator): Record<string, string> {
  const key = emulator.keys[0] ?? EMULATOR_KEY;
  return {
    HUAWEICLOUD_FUNCTIONGRAPH_ENDPOINT: emulator.url,
    HUAWEICLOUD_IAM_ENDPOINT: emulator.url,
    HUAWEICLOUD_SDK_AK: key.ak,
    HUAWEICLOUD_SDK_SK: key.sk,
  };
}

type Answer = { status: number; body?: unknown };
class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
  ) {
    super(message);
  }
}
const refuse = (status: number, code: string, message: string): never => {
  throw new Refusal(status, code, message);
};

export async function startFunctionGraphEmulator(
  options: FunctionGraphEmulatorOptions = {},
): Promise<FunctionGraphEmulator> {
  const keys = options.keys ?? [EMULATOR_KEY];
  const projectId = options.projectId ?? EMULATOR_PROJECT_ID;
  const region = options.region ?? EMULATOR_REGION;
  const agencies = new Set(options.agencies ?? ["swr-scan-on-push-hss"]);
  const functions = new Map<string, FunctionRecord>();
  const triggers = new Map<string, TriggerRecord>();
  const faults: FunctionGraphFault[] = [];
  const received: FunctionGraphRequest[] = [];
  const urnOf = (name: string) => `urn:fss:${region}:${projectId}:function:default:${name}`;

  const api = new FunctionGraphApi({ region, projectId, agencies, functions, triggers, urnOf });

  const server = createServer(async (req, res) => {
    const requestId = randomUUID().replaceAll("-", "");
    const { body, tooLarge } = await readBody(req, MAX_BODY_BYTES).catch(() => ({
      body: Buffer.alloc(0),
      tooLarge: false,
    }));
    const url = new URL(req.url ?? "/", "http://emulator");
    const headers = flattenHeaders(req);
    const method = req.method ?? "";
    const send = ({ status, body: answer }: Answer) => {
      const entry: FunctionGraphRequest = {
        method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: Object.fromEntries(
          Object.entries(headers).filter(([name]) => !SENSITIVE_HEADERS.has(name)),
        ),
        status,
        requestId,
      };
      received.push(entry);
      options.onRequest?.(entry);
      res.setHeader("X-Request-Id", requestId);
      if (answer === undefined) {
        res.writeHead(status).end();
        return;
      }
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(answer));
    };
    const error = (status: number, code: string, message: string): Answer => ({
      status,
      body: { error_code: code, error_msg: message },
    });

    const index = faults.findIndex(
      (fault) =>
        (!fault.match?.method || fault.match.method === method) &&
        (!fault.match?.path || fault.match.path.test(decodeURIComponent(url.pathname))),
    );
    if (index >= 0) {
      const [fault] = faults.splice(index, 1);
      if (fault)
        return send(error(fault.status, fault.errorCode, fault.errorMsg ?? fault.errorCode));
    }
    if (tooLarge) return send(error(413, "FSS.0413", "The request body is too large."));
    const signature = verifySignature({ method, url: req.url ?? "/", headers, body }, keys);
    if (!signature.valid) {
      return send(
        error(401, "APIGW.0301", `Incorrect IAM authentication information: ${signature.reason}`),
      );
    }
    const path = url.pathname.split("/").map(safeDecode);
    try {
      if (path[1] === "v3" && path[2] === "projects" && path.length === 3 && method === "GET") {
        return send(listProjects(url.searchParams.get("name")));
      }
      if (path[1] !== "v2" || path[3] !== "fgs") {
        return send(error(404, "APIGW.0101", "The API does not exist or has not been published"));
      }
      if (path[2] !== projectId || headers["x-project-id"] !== projectId) {
        return send(
          error(403, "FSS.0403", "Forbidden: the project id is not one of this account's"),
        );
      }
      const json = parseJson(body);
      return send(api.handle(method, path.slice(4), json));
    } catch (caught) {
      if (caught instanceof Refusal)
        return send(error(caught.status, caught.errorCode, caught.message));
      return send(error(500, "FSS.0500", "Internal server error."));
    }
  });

  function listProjects(name: string | null): Answer {
    if (options.canListProjects === false) {
      // IAM answers in Keystone's shape.
      return {
        status: 403,
        body: {
          error: {
            code: 403,
            title: "Forbidden",
            message:
              "You are not authorized to perform the requested action: iam:projects:listProjects.",
          },
        },
      };
    }
    const projects = [
      {
        id: projectId,
        name: region,
        domain_id: EMULATOR_DOMAIN_ID,
        enabled: true,
        is_domain: false,
        parent_id: EMULATOR_DOMAIN_ID,
        description: "",
        links: { self: `https://iam.myhuaweicloud.com/v3/projects/${projectId}` },
      },
    ].filter((project) => name === null || project.name === name);
    return {
      status: 200,
      body: {
        projects,
        links: { self: "https://iam.myhuaweicloud.com/v3/projects", previous: null, next: null },
      },
    };
  }

  const served = await serveOnLoopback(server, options.port);
  return {
    url: served.url,
    projectId,
    region,
    keys,
    received,
    functions: () =>
      new Map([...functions].map(([name, record]) => [name, structuredClone(record)])),
    triggers: (name) =>
      [...triggers.values()]
        .filter((trigger) => name === undefined || trigger.function === name)
        .map((trigger) => structuredClone(trigger)),
    failNext: (...more) => {
      faults.push(...more);
    },
    reset: () => {
      functions.clear();
      triggers.clear();
      faults.length = 0;
      received.length = 0;
    },
    close: served.close,
  };
}

interface ApiState {
  region: string;
  projectId: string;
  agencies: Set<string>;
  functions: Map<string, FunctionRecord>;
  triggers: Map<string, TriggerRecord>;
  urnOf(name: string): string;
}

/** The FunctionGraph v2 calls a deployment makes, on the stand-in's state. */
class FunctionGraphApi {
  constructor(private readonly state: ApiState) {}

  /** `path` starts after `/v2/{project_id}/fgs`. */
  handle(method: string, path: string[], body: unknown): Answer {
    const [collection, urn, ...rest] = path;
    if (collection === "functions") {
      if (urn === undefined && method === "POST") return this.createFunction(body);
      if (urn !== undefined && rest.length === 0 && method === "DELETE") {
        return this.deleteFunction(urn);
      }
      if (urn !== undefined && rest.length === 1) {
        const [part] = rest;
        if (part === "config" && method === "GET") return this.showConfig(urn);
        if (part === "config" && method === "PUT") return this.updateConfig(urn, body);
        if (part === "code" && method === "PUT") return this.updateCode(urn, body);
      }
    }
    if (collection === "triggers" && urn !== undefined) {
      const [type, id] = rest;
      if (rest.length === 0 && method === "GET") return this.listTriggers(urn);
      if (rest.length === 0 && method === "POST") return this.createTrigger(urn, body);
      if (rest.length === 2 && type && id) {
        if (method === "GET") return this.showTrigger(urn, type, id);
        if (method === "PUT") return this.updateTrigger(urn, type, id, body);
        if (method === "DELETE") return this.deleteTrigger(urn, type, id);
      }
    }
    return refuse(404, "APIGW.0101", "The API does not exist or has not been published");
  }

  private createFunction(body: unknown): Answer {
    const request = objectBody(body);
    const name = request.func_name;
    if (typeof name !== "string" || !/^[A-Za-z][A-Za-z0-9_-]{0,58}[A-Za-z0-9]$/.test(name)) {
      refuse(400, "FSS.1002", "Invalid function name.");
    }
    if (typeof request.package !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(request.package)) {
      refuse(400, "FSS.1004", "Invalid Package (function app).");
    }
    const settings = this.checkSettings(request);
    const code = checkCode(request);
    if (this.state.functions.has(name as string)) {
      refuse(409, "FSS.1061", "The function already exists.");
    }
    const record: FunctionRecord = {
      func_id: randomUUID(),
      func_name: name as string,
      package: request.package as string,
      ...settings,
      ...code,
      enterprise_project_id: stringField(request.enterprise_project_id) ?? "0",
      last_modified: new Date().toISOString(),
    };
    this.state.functions.set(record.func_name, record);
    return { status: 200, body: this.configOf(record) };
  }

  private showConfig(urn: string): Answer {
    return { status: 200, body: this.configOf(this.functionAt(urn)) };
  }

  private updateConfig(urn: string, body: unknown): Answer {
    const record = this.functionAt(urn);
    const request = objectBody(body);
    if (request.func_name !== record.func_name) {
      refuse(400, "FSS.1002", "Invalid function name: func_name must be the function's name.");
    }
    // The update replaces the configuration: what the request leaves out (a VPC, variables)
    // is removed.
    Object.assign(record, this.checkSettings(request), { last_modified: new Date().toISOString() });
    if (request.func_vpc === undefined) delete record.func_vpc;
    return { status: 200, body: this.configOf(record) };
  }

  private updateCode(urn: string, body: unknown): Answer {
    const record = this.functionAt(urn);
    Object.assign(record, checkCode(objectBody(body)), { last_modified: new Date().toISOString() });
    return {
      status: 200,
      body: {
        func_urn: `${this.state.urnOf(record.func_name)}:latest`,
        func_name: record.func_name,
        domain_id: EMULATOR_DOMAIN_ID,
        runtime: record.runtime,
        code_type: record.code_type,
        code_url: "",
        code_filename: record.code_filename,
        code_size: record.code_size,
        digest: record.digest,
        last_modified: record.last_modified,
        func_code: { file: "", link: "" },
        depend_list: [],
        depend_version_list: [],
        strategy_config: { concurrency: -1 },
        dependencies: [],
      },
    };
  }

  private deleteFunction(urn: string): Answer {
    const { name, version } = this.parseUrn(urn);
    if (version !== undefined) {
      refuse(
        400,
        "FSS.1015",
        "Invalid function version: the latest version cannot be deleted; delete the function with a URN without a version",
      );
    }
    if (!this.state.functions.delete(name)) refuse(404, "FSS.1051", "The function does not exist.");
    for (const [id, trigger] of this.state.triggers) {
      if (trigger.function === name) this.state.triggers.delete(id);
    }
    return { status: 204 };
  }

  private listTriggers(urn: string): Answer {
    const record = this.functionAt(urn);
    const list = [...this.state.triggers.values()].filter((t) => t.function === record.func_name);
    return { status: 200, body: list.map((trigger) => triggerBody(trigger)) };
  }

  private showTrigger(urn: string, type: string, id: string): Answer {
    return { status: 200, body: triggerBody(this.triggerAt(urn, type, id)) };
  }

  private createTrigger(urn: string, body: unknown): Answer {
    const record = this.functionAt(urn);
    const request = objectBody(body);
    const type = request.trigger_type_code;
    const status = request.trigger_status ?? "ACTIVE";
    if (status !== "ACTIVE" && status !== "DISABLED") {
      refuse(400, "FSS.0400", "Invalid parameter: trigger_status must be ACTIVE or DISABLED");
    }
    const eventData = objectBody(request.event_data, "event_data");
    const existing = [...this.state.triggers.values()];
    if (existing.filter((t) => t.function === record.func_name).length >= MAX_TRIGGERS) {
      refuse(400, "FSS.1306", "The number of triggers exceeds the maximum allowed limit.");
    }
    const now = timestamp();
    const trigger: TriggerRecord = {
      trigger_id: randomUUID().replaceAll("-", ""),
      function: record.func_name,
      trigger_type_code: type as TriggerRecord["trigger_type_code"],
      trigger_status: status as TriggerRecord["trigger_status"],
      event_data: {},
      created_time: now,
      last_updated_time: now,
    };
    if (type === "TIMER") {
      trigger.event_data = checkTimer(eventData);
      const taken = existing.some(
        (t) =>
          t.function === record.func_name &&
          t.trigger_type_code === "TIMER" &&
          t.event_data.name === trigger.event_data.name,
      );
      if (taken) refuse(409, "FSS.1148", "The timer trigger already exists.");
    } else if (type === "APIG" || type === "DEDICATEDGATEWAY") {
      if (status !== "ACTIVE") {
        refuse(
          400,
          "FSS.1107",
          "Invalid APIG trigger parameters: an API trigger cannot be disabled",
        );
      }
      const api = checkApi(type, eventData);
      const sameGroup = existing.filter(
        (t) => t.trigger_type_code === type && t.event_data.group_id === api.group_id,
      );
      if (sameGroup.some((t) => t.event_data.name === api.name)) {
        refuse(
          409,
          "FSS.1146",
          "The APIG trigger already exists: the group has an API with this name.",
        );
      }
      if (
        sameGroup.some(
          (t) =>
            t.event_data.path === api.path &&
            (t.event_data.req_method === api.req_method ||
              t.event_data.req_method === "ANY" ||
              api.req_method === "ANY"),
        )
      ) {
        refuse(409, "FSS.1147", "The request path already exists.");
      }
      const domain = `${createHash("sha256").update(String(api.group_id)).digest("hex").slice(0, 32)}.apic.${this.state.region}.huaweicloudapis.com`;
      trigger.event_data = {
        ...api,
        api_id: randomUUID().replaceAll("-", ""),
        api_name: api.name,
        triggerid: trigger.trigger_id,
        sl_domain: domain,
        invoke_url: `${String(api.protocol).toLowerCase()}://${domain}${api.path}`,
        func_info: {
          function_urn: this.state.urnOf(record.func_name),
          invocation_type: "sync",
          timeout: (api.func_info as { timeout: number }).timeout,
          version: "latest",
        },
      };
    } else {
      refuse(400, "FSS.1101", "Invalid trigger type.");
    }
    this.state.triggers.set(trigger.trigger_id, trigger);
    return { status: 201, body: triggerBody(trigger) };
  }

  private updateTrigger(urn: string, type: string, id: string, body: unknown): Answer {
    const trigger = this.triggerAt(urn, type, id);
    const request = objectBody(body);
    // Only the status, and the polling settings of message-queue triggers, can be updated
    // (UpdateTrigger's UpdateriggerEventData): other settings mean a new trigger.
    const updatable = new Set(["is_serial", "max_fetch_bytes", "polling_interval", "polling_unit"]);
    const eventData = request.event_data === undefined ? {} : objectBody(request.event_data);
    const fixed = Object.keys(eventData).filter((key) => !updatable.has(key));
    if (fixed.length > 0 || Object.keys(eventData).length > 0) {
      refuse(
        400,
        "FSS.0400",
        `Invalid parameter: ${fixed.length > 0 ? fixed.join(", ") : "event_data"} cannot be updated on a ${trigger.trigger_type_code} trigger`,
      );
    }
    const status = request.trigger_status;
    if (status !== undefined) {
      if (status !== "ACTIVE" && status !== "DISABLED") {
        refuse(400, "FSS.0400", "Invalid parameter: trigger_status must be ACTIVE or DISABLED");
      }
      if (status === "DISABLED" && trigger.trigger_type_code !== "TIMER") {
        refuse(
          400,
          "FSS.1107",
          "Invalid APIG trigger parameters: an API trigger cannot be disabled",
        );
      }
      trigger.trigger_status = status as TriggerRecord["trigger_status"];
    }
    trigger.last_updated_time = timestamp();
    return { status: 200, body: triggerBody(trigger) };
  }

  private deleteTrigger(urn: string, type: string, id: string): Answer {
    const trigger = this.triggerAt(urn, type, id);
    this.state.triggers.delete(trigger.trigger_id);
    return { status: 204 };
  }

  private parseUrn(urn: string): { name: string; version?: string } {
    const parts = urn.split(":");
    const [scheme, service, urnRegion, urnProject, kind, pkg, name, version, ...extra] = parts;
    if (
      scheme !== "urn" ||
      service !== "fss" ||
      kind !== "function" ||
      !pkg ||
      !name ||
      extra.length > 0
    ) {
      refuse(400, "FSS.1309", "Invalid function URN.");
    }
    if (urnRegion !== this.state.region || urnProject !== this.state.projectId) {
      refuse(400, "FSS.1309", "Invalid function URN: another region or project");
    }
    return { name: name as string, version };
  }

  private functionAt(urn: string): FunctionRecord {
    const { name, version } = this.parseUrn(urn);
    const record = this.state.functions.get(name);
    if (!record) return refuse(404, "FSS.1051", "The function does not exist.");
    if (version !== undefined && version !== "latest") {
      refuse(404, "FSS.1052", "The version does not exist.");
    }
    return record;
  }

  private triggerAt(urn: string, type: string, id: string): TriggerRecord {
    const record = this.functionAt(urn);
    const trigger = this.state.triggers.get(id);
    if (!trigger || trigger.function !== record.func_name || trigger.trigger_type_code !== type) {
      return refuse(404, "FSS.1131", "The trigger does not exist.");
    }
    return trigger;
  }

  /** The fields create and update share, checked as the service checks them. */
  private checkSettings(request: Record<string, unknown>) {
    const { runtime, handler, memory_size: memory, timeout } = request;
    if (typeof runtime !== "string" || !RUNTIMES.includes(runtime)) {
      refuse(400, "FSS.1005", "Invalid runtime.");
    }
    if (typeof handler !== "string" || !/^[^.\s]+\.[^\s]+$/.test(handler) || handler.length > 128) {
      refuse(400, "FSS.1003", "Invalid function handler.");
    }
    if (typeof memory !== "number" || !MEMORY_SIZES.includes(memory)) {
      refuse(400, "FSS.1007", "Invalid function memory.");
    }
    if (
      typeof timeout !== "number" ||
      !Number.isInteger(timeout) ||
      timeout < 3 ||
      timeout > 259_200
    ) {
      refuse(400, "FSS.1008", "Invalid function timeout.");
    }
    const xrole = stringField(request.xrole);
    if (xrole !== undefined && !this.state.agencies.has(xrole)) {
      refuse(400, "FSS.0400", `Invalid parameter: the agency ${xrole} does not exist`);
    }
    let funcVpc: FunctionRecord["func_vpc"];
    if (request.func_vpc !== undefined && request.func_vpc !== null) {
      const vpc = objectBody(request.func_vpc, "func_vpc");
      if (typeof vpc.vpc_id !== "string" || vpc.vpc_id === "") {
        refuse(400, "FSS.1036", "The VPC does not exist.");
      }
      if (typeof vpc.subnet_id !== "string" || vpc.subnet_id === "") {
        refuse(400, "FSS.1037", "No subnet matches the specified ID.");
      }
      if (xrole === undefined) {
        refuse(400, "FSS.0400", "Invalid parameter: a function in a VPC needs an agency (xrole)");
      }
      funcVpc = { vpc_id: vpc.vpc_id as string, subnet_id: vpc.subnet_id as string };
    }
    const description = stringField(request.description);
    if (description !== undefined && description.length > 512) {
      refuse(400, "FSS.1019", "The description exceeds the maximum allowed limit.");
    }
    return {
      runtime: runtime as string,
      handler: handler as string,
      memory_size: memory as number,
      timeout: timeout as number,
      user_data: checkUserData(request.user_data),
      encrypted_user_data: checkUserData(request.encrypted_user_data),
      xrole,
      description,
      ...(funcVpc ? { func_vpc: funcVpc } : {}),
    };
  }

  /** A function as ShowFunctionConfig answers (ShowFunctionConfigResponse). */
  private configOf(record: FunctionRecord) {
    const encrypted = Object.keys(record.encrypted_user_data).length;
    return {
      func_id: record.func_id,
      resource_id: record.func_id,
      func_urn: `${this.state.urnOf(record.func_name)}:latest`,
      func_name: record.func_name,
      domain_id: EMULATOR_DOMAIN_ID,
      namespace: this.state.projectId,
      project_name: this.state.region,
      package: record.package,
      runtime: record.runtime,
      timeout: record.timeout,
      handler: record.handler,
      memory_size: record.memory_size,
      cpu: (record.memory_size / 128) * 100 + 200,
      code_type: record.code_type,
      code_url: "",
      code_filename: record.code_filename,
      code_size: record.code_size,
      user_data: JSON.stringify(record.user_data),
      // The service keeps these encrypted and does not give them back in clear: a deploy cannot
      // compare them with what it would send.
      encrypted_user_data:
        encrypted === 0 ? "" : randomBytes(32 + encrypted * 16).toString("base64"),
      digest: record.digest,
      version: "latest",
      image_name: `latest-${record.func_id.slice(0, 5)}`,
      xrole: record.xrole ?? "",
      app_xrole: record.xrole ?? "",
      description: record.description ?? "",
      last_modified: record.last_modified,
      func_vpc: record.func_vpc ?? null,
      strategy_config: { concurrency: -1, concurrent_num: 1 },
      enterprise_project_id: record.enterprise_project_id,
      type: "v2",
      enable_dynamic_memory: false,
      is_stateful_function: false,
    };
  }
}

function checkCode(request: Record<string, unknown>) {
  if (request.code_type !== "zip") {
    refuse(400, "FSS.1006", "Invalid function code entry mode: this stand-in takes zip code only");
  }
  const filename = stringField(request.code_filename);
  if (!filename?.endsWith(".zip")) {
    refuse(400, "FSS.0400", "Invalid parameter: code_filename is required for zip code");
  }
  const file = (request.func_code as { file?: unknown } | undefined)?.file;
  if (typeof file !== "string" || file === "") {
    refuse(400, "FSS.1012", "The function code must be configured.");
  }
  const zip = Buffer.from(file as string, "base64");
  if (zip.toString("base64") !== (file as string).replace(/\s/g, "")) {
    refuse(400, "FSS.1011", "Invalid function code: func_code.file is not base64");
  }
  if (zip.length > MAX_CODE_BYTES) {
    refuse(
      413,
      "FSS.1071",
      "The size of the code package to be uploaded exceeds the maximum allowed limit (50 MB).",
    );
  }
  if (zip.subarray(0, 4).toString("binary") !== "PK\x03\x04") {
    refuse(400, "FSS.1011", "Invalid function code: not a zip file");
  }
  return {
    code_type: "zip",
    code_filename: filename as string,
    code_size: zip.length,
    digest: createHash("sha512").update(zip).digest("hex"),
  };
}

/** user_data and encrypted_user_data: a JSON object of string values, within the limits. */
function checkUserData(value: unknown): Record<string, string> {
  if (value === undefined || value === null || value === "") return {};
  if (typeof value !== "string") refuse(400, "FSS.1009", "Invalid function UserData.");
  if (Buffer.byteLength(value as string) > USER_DATA_LIMITS.bytes) {
    refuse(
      400,
      "FSS.1018",
      "The total size of the UserData field exceeds the maximum allowed limit (4 KB).",
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(value as string);
  } catch {
    return refuse(400, "FSS.1009", "Invalid function UserData.");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    refuse(400, "FSS.1009", "Invalid function UserData.");
  }
  const entries = Object.entries(parsed as Record<string, unknown>);
  if (entries.length > USER_DATA_LIMITS.variables) {
    refuse(
      400,
      "FSS.1017",
      "The number of items in the UserData field exceeds the maximum allowed limit (20).",
    );
  }
  for (const [key, item] of entries) {
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(key) || typeof item !== "string") {
      refuse(400, "FSS.1009", `Invalid function UserData: ${key}`);
    }
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

/** A TIMER trigger's event_data: name, and a Rate within its bounds or a Cron with seconds. */
function checkTimer(eventData: Record<string, unknown>): Record<string, unknown> {
  const invalid = (why: string) =>
    refuse(400, "FSS.1109", `Invalid timer trigger parameters: ${why}`);
  const { name, schedule_type: type, schedule } = eventData;
  if (typeof name !== "string" || !/^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(name)) invalid("name");
  if (type === "Rate") {
    const match = /^(\d+)([mhd])$/.exec(String(schedule));
    const bound = { m: 60, h: 24, d: 30 }[(match?.[2] ?? "m") as "m" | "h" | "d"];
    if (!match || Number(match[1]) < 1 || Number(match[1]) > bound) {
      invalid("schedule: a Rate is 1-60m, 1-24h or 1-30d");
    }
  } else if (type === "Cron") {
    const fields = String(schedule).trim().split(/\s+/);
    if (fields.length < 6 || fields.length > 7)
      invalid("schedule: a Cron expression has seconds (6 or 7 fields)");
  } else {
    invalid("schedule_type must be Rate or Cron");
  }
  const userEvent = eventData.user_event;
  if (userEvent !== undefined && (typeof userEvent !== "string" || userEvent.length > 4096)) {
    invalid("user_event");
  }
  return { name, schedule_type: type, schedule, user_event: userEvent ?? "" };
}

/** An API gateway trigger's event_data, as the API reference requires it. */
function checkApi(
  type: "APIG" | "DEDICATEDGATEWAY",
  eventData: Record<string, unknown>,
): Record<string, unknown> {
  const invalid = (why: string) =>
    refuse(400, "FSS.1107", `Invalid APIG trigger parameters: ${why}`);
  const oneOf = (field: string, values: readonly unknown[]) => {
    if (!values.includes(eventData[field])) invalid(`${field} must be one of ${values.join(", ")}`);
  };
  const text = (field: string) => {
    if (typeof eventData[field] !== "string" || eventData[field] === "")
      invalid(`${field} is required`);
  };
  const name = eventData.name;
  if (typeof name !== "string" || !/^[A-Za-z][A-Za-z0-9_]{2,63}$/.test(name)) {
    invalid("name (3-64 letters, digits and underscores, starting with a letter)");
  }
  text("group_id");
  text("env_name");
  text("env_id");
  if (type === "DEDICATEDGATEWAY") text("instance_id");
  oneOf("protocol", ["HTTP", "HTTPS"]);
  oneOf("req_method", ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS", "ANY"]);
  oneOf("match_mode", ["SWA", "NORMAL"]);
  oneOf("auth", ["IAM", "APP", "NONE"]);
  oneOf("type", [1, 2]);
  if (eventData.backend_type !== undefined) oneOf("backend_type", ["FUNCTION"]);
  if (typeof eventData.path !== "string" || !/^\/[A-Za-z0-9_\-./{}+%]*$/.test(eventData.path)) {
    invalid("path must start with / and hold only URL path characters");
  }
  const timeout = (eventData.func_info as { timeout?: unknown } | undefined)?.timeout;
  if (
    typeof timeout !== "number" ||
    !Number.isInteger(timeout) ||
    timeout < 1 ||
    timeout > 60_000
  ) {
    invalid("func_info.timeout (1-60000 ms) is required");
  }
  return { ...eventData, backend_type: "FUNCTION" };
}

function triggerBody(trigger: TriggerRecord) {
  return {
    trigger_id: trigger.trigger_id,
    trigger_type_code: trigger.trigger_type_code,
    trigger_status: trigger.trigger_status,
    event_data: trigger.event_data,
    last_updated_time: trigger.last_updated_time,
    created_time: trigger.created_time,
  };
}

function objectBody(value: unknown, name = "the request body"): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return refuse(400, "FSS.0400", `Invalid parameter: ${name} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

function stringField(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** FunctionGraph writes trigger times as `YYYY-MM-DD HH:mm:ss`. */
function timestamp(): string {
  return new Date().toISOString().replace("T", " ").slice(0, 19);
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
