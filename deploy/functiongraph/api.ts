import type { DeployCredentials } from "./credentials";
import { type CloudAnswer, CloudCallError, DeployError } from "./errors";
import {
  BasicCredentials,
  ClientBuilder,
  CreateFunctionRequest,
  CreateFunctionRequestBody,
  CreateFunctionTriggerRequest,
  CreateFunctionTriggerRequestBody,
  DeleteFunctionRequest,
  DeleteFunctionTriggerRequest,
  FuncCode,
  FunctionGraphClient,
  FuncVpc,
  type HcClient,
  ListFunctionTriggersRequest,
  ShowFunctionConfigRequest,
  type TriggerEventDataRequestBody,
  UpdateFunctionCodeRequest,
  UpdateFunctionCodeRequestBody,
  UpdateFunctionConfigRequest,
  UpdateFunctionConfigRequestBody,
  UpdateTriggerRequest,
  UpdateTriggerRequestBody,
} from "./sdk";

/** The one function package this provider deploys into (FunctionGraph's default app). */
const PACKAGE = "default";

/** Where the deploy's calls go: settings meant for a local stand-in, or another cloud. */
export const ENDPOINT_VARIABLES = {
  functionGraph: "HUAWEICLOUD_FUNCTIONGRAPH_ENDPOINT",
  iam: "HUAWEICLOUD_IAM_ENDPOINT",
  timeout: "HUAWEICLOUD_REQUEST_TIMEOUT_SECONDS",
} as const;

const DEFAULT_TIMEOUT_SECONDS = 60;

export interface CloudSettings {
  functionGraph: string;
  iam: string;
  timeoutMs: number;
}

/** The public endpoints of a region, unless the environment names others. */
export function cloudSettings(region: string, env: NodeJS.ProcessEnv): CloudSettings {
  // eu-west-101 is served from Huawei Cloud Europe's own domain.
  const domain = region === "eu-west-101" ? "myhuaweicloud.eu" : "myhuaweicloud.com";
  const seconds = env[ENDPOINT_VARIABLES.timeout]?.trim() || String(DEFAULT_TIMEOUT_SECONDS);
  if (!/^\d+$/.test(seconds) || Number(seconds) < 1 || Number(seconds) > 900) {
    throw new DeployError(`${ENDPOINT_VARIABLES.timeout} must be a number of seconds, 1-900`);
  }
  const endpoint = (variable: string, fallback: string) => {
    const value = env[variable]?.trim() || fallback;
    if (!/^https?:\/\/[^\s/]+\/?$/.test(value)) {
      throw new DeployError(`${variable} must be a URL such as ${fallback}`);
    }
    return value.replace(/\/$/, "");
  };
  return {
    functionGraph: endpoint(
      ENDPOINT_VARIABLES.functionGraph,
      `https://functiongraph.${region}.${domain}`,
    ),
    iam: endpoint(
      ENDPOINT_VARIABLES.iam,
      region === "eu-west-101" ? `https://iam.${region}.${domain}` : `https://iam.${domain}`,
    ),
    timeoutMs: Number(seconds) * 1000,
  };
}

/** Builds an SDK client the way this provider needs it: explicit endpoint and project, a timeout. */
function sdkOptions(timeoutMs: number) {
  // A custom user agent also keeps the core from writing ~/.huaweicloud/application_id.
  return { customUserAgent: "swr-scan-on-push-deploy", axiosRequestConfig: { timeout: timeoutMs } };
}

function credentialsOf(credentials: DeployCredentials, projectId?: string): BasicCredentials {
  const basic = new BasicCredentials().withAk(credentials.ak).withSk(credentials.sk);
  if (credentials.securityToken) basic.withSecurityToken(credentials.securityToken);
  if (projectId) basic.withProjectId(projectId);
  return basic;
}

/**
 * The project id of a region, from IAM (KeystoneListProjects, `GET /v3/projects?name=`). Never
 * creates a project: the SDK core's own look-up does when it finds none.
 */
export async function lookUpProjectId(
  region: string,
  credentials: DeployCredentials,
  cloud: CloudSettings,
): Promise<string> {
  const iam = new ClientBuilder<HcClient>((client) => client)
    .withEndpoint(cloud.iam)
    .withCredential(credentialsOf(credentials))
    .withOptions(sdkOptions(cloud.timeoutMs))
    .build();
  const step = `looking up the project id of ${region} with IAM (${cloud.iam})`;
  const answer = await call(
    step,
    {
      403: 'the deploying user may not list IAM projects: grant it iam:projects:listProjects (the IAM ReadOnlyAccess policy has it), or pass the project id: --param="projectId=<id>" (console: My Credentials > API Credentials > Projects)',
    },
    credentials,
    () =>
      iam.sendRequest({
        method: "GET",
        url: "/v3/projects",
        contentType: "application/json",
        queryParams: { name: region },
        pathParams: {},
        headers: {},
        data: {},
      }) as Promise<{ projects?: Array<{ id?: string; name?: string }> }>,
  );
  const project = answer.projects?.find((candidate) => candidate.name === region);
  if (!project?.id) {
    throw new DeployError(
      `${step}: the account has no project named ${region}; check the region (--region or provider.region)`,
    );
  }
  return project.id;
}

/** What the function is to be, in the API's terms. */
export interface FunctionSettings {
  name: string;
  runtime: string;
  handler: string;
  memorySize: number;
  timeout: number;
  agency?: string;
  description: string;
  userData: Record<string, string>;
  encryptedUserData: Record<string, string>;
  vpc?: { vpcId: string; subnetId: string };
  enterpriseProjectId?: string;
}

/** A function as ShowFunctionConfig answers (the fields this provider reads). */
export interface DeployedFunction {
  func_urn: string;
  func_name: string;
  runtime: string;
  handler: string;
  memory_size: number;
  timeout: number;
  code_size?: number;
  digest?: string;
  user_data?: string;
  xrole?: string;
  description?: string;
  func_vpc?: { vpc_id?: string; subnet_id?: string } | null;
  version?: string;
  last_modified?: string;
}

/** A trigger as ListFunctionTriggers answers it. */
export interface DeployedTrigger {
  trigger_id: string;
  trigger_type_code: string;
  trigger_status: string;
  event_data: Record<string, unknown>;
  created_time?: string;
  last_updated_time?: string;
}

/** A trigger to create: its type, status and event_data as the API takes them. */
export interface TriggerSettings {
  type: string;
  status: "ACTIVE" | "DISABLED";
  eventData: Record<string, unknown>;
}

/**
 * FunctionGraph through Huawei's official SDK: the calls a deployment makes, each turned into a
 * clear error when refused. Answers are read as plain JSON (the SDK hands back the body, not
 * instances of its response classes).
 */
export class FunctionGraph {
  private readonly client: FunctionGraphClient;

  constructor(
    readonly region: string,
    readonly projectId: string,
    private readonly credentials: DeployCredentials,
    cloud: CloudSettings,
  ) {
    this.client = FunctionGraphClient.newBuilder()
      .withCredential(credentialsOf(credentials, projectId))
      .withEndpoint(cloud.functionGraph)
      .withOptions(sdkOptions(cloud.timeoutMs))
      .build();
  }

  /** The URN of the whole function (deleting it takes this one). */
  urnOf(name: string): string {
    return `urn:fss:${this.region}:${this.projectId}:function:${PACKAGE}:${name}`;
  }

  async show(name: string): Promise<DeployedFunction | undefined> {
    try {
      return (await this.call(`reading function ${name}`, {}, () =>
        this.client.showFunctionConfig(
          new ShowFunctionConfigRequest().withFunctionUrn(`${this.urnOf(name)}:latest`),
        ),
      )) as unknown as DeployedFunction;
    } catch (error) {
      if (error instanceof CloudCallError && error.answer.status === 404) return undefined;
      throw error;
    }
  }

  async create(settings: FunctionSettings, code: { zip: Buffer; filename: string }) {
    const body = new CreateFunctionRequestBody()
      .withFuncName(settings.name)
      .withPackage(PACKAGE)
      .withType("v2")
      .withCodeType("zip")
      .withCodeFilename(code.filename)
      .withFuncCode(new FuncCode().withFile(code.zip.toString("base64")));
    applySettings(body, settings);
    if (settings.enterpriseProjectId) body.withEnterpriseProjectId(settings.enterpriseProjectId);
    return (await this.call(`creating function ${settings.name}`, settingsChecks(settings), () =>
      this.client.createFunction(new CreateFunctionRequest().withBody(body)),
    )) as unknown as DeployedFunction;
  }

  async updateCode(name: string, code: { zip: Buffer; filename: string }) {
    const body = new UpdateFunctionCodeRequestBody()
      .withCodeType("zip")
      .withCodeFilename(code.filename)
      .withFuncCode(new FuncCode().withFile(code.zip.toString("base64")));
    return this.call(
      `updating the code of function ${name}`,
      { 400: `${code.filename} is not a zip FunctionGraph takes: run npm run package again` },
      () =>
        this.client.updateFunctionCode(
          new UpdateFunctionCodeRequest()
            .withFunctionUrn(`${this.urnOf(name)}:latest`)
            .withBody(body),
        ),
    );
  }

  async updateConfig(settings: FunctionSettings) {
    const body = new UpdateFunctionConfigRequestBody().withFuncName(settings.name);
    applySettings(body, settings);
    return (await this.call(
      `updating the configuration of function ${settings.name}`,
      settingsChecks(settings),
      () =>
        this.client.updateFunctionConfig(
          new UpdateFunctionConfigRequest()
            .withFunctionUrn(`${this.urnOf(settings.name)}:latest`)
            .withBody(body),
        ),
    )) as unknown as DeployedFunction;
  }

  /** Deletes the function with its versions and triggers; false when there was none. */
  async remove(name: string): Promise<boolean> {
    try {
      await this.call(`removing function ${name}`, {}, () =>
        this.client.deleteFunction(new DeleteFunctionRequest().withFunctionUrn(this.urnOf(name))),
      );
      return true;
    } catch (error) {
      if (error instanceof CloudCallError && error.answer.status === 404) return false;
      throw error;
    }
  }

  async triggers(name: string): Promise<DeployedTrigger[]> {
    const answer = (await this.call(`listing the triggers of function ${name}`, {}, () =>
      this.client.listFunctionTriggers(
        new ListFunctionTriggersRequest().withFunctionUrn(`${this.urnOf(name)}:latest`),
      ),
    )) as unknown;
    // The list is the body itself; the core hands an array back as an object of its items.
    const items = Array.isArray(answer)
      ? answer
      : Object.entries(answer as Record<string, unknown>)
          .filter(([key]) => /^\d+$/.test(key))
          .map(([, value]) => value);
    return items as DeployedTrigger[];
  }

  async createTrigger(name: string, trigger: TriggerSettings, checks: Checks) {
    const body = new CreateFunctionTriggerRequestBody()
      .withTriggerTypeCode(trigger.type)
      .withTriggerStatus(trigger.status)
      .withEventData(trigger.eventData as unknown as TriggerEventDataRequestBody);
    return (await this.call(
      `creating the ${trigger.type} trigger ${String(trigger.eventData.name)}`,
      checks,
      () =>
        this.client.createFunctionTrigger(
          new CreateFunctionTriggerRequest()
            .withFunctionUrn(`${this.urnOf(name)}:latest`)
            .withBody(body),
        ),
    )) as unknown as DeployedTrigger;
  }

  async setTriggerStatus(name: string, trigger: DeployedTrigger, status: string) {
    return this.call(`setting the ${describeTrigger(trigger)} trigger to ${status}`, {}, () =>
      this.client.updateTrigger(
        new UpdateTriggerRequest()
          .withFunctionUrn(`${this.urnOf(name)}:latest`)
          .withTriggerTypeCode(trigger.trigger_type_code)
          .withTriggerId(trigger.trigger_id)
          .withBody(new UpdateTriggerRequestBody().withTriggerStatus(status)),
      ),
    );
  }

  async deleteTrigger(name: string, trigger: DeployedTrigger) {
    await this.call(`deleting the ${describeTrigger(trigger)} trigger`, {}, () =>
      this.client.deleteFunctionTrigger(
        new DeleteFunctionTriggerRequest()
          .withFunctionUrn(`${this.urnOf(name)}:latest`)
          .withTriggerTypeCode(trigger.trigger_type_code)
          .withTriggerId(trigger.trigger_id),
      ),
    );
  }

  private call<T>(step: string, checks: Checks, send: () => Promise<T>): Promise<T> {
    return call(
      step,
      { 404: `the region (${this.region}) and project id (${this.projectId})`, ...checks },
      this.credentials,
      send,
    );
  }
}

export function describeTrigger(trigger: DeployedTrigger): string {
  return `${trigger.trigger_type_code} ${String(trigger.event_data.name ?? trigger.trigger_id)}`;
}

/** What to check, by HTTP status (or FunctionGraph error code), when a call is refused. */
export type Checks = Partial<Record<number | string, string>>;

function applySettings(
  body: CreateFunctionRequestBody | UpdateFunctionConfigRequestBody,
  settings: FunctionSettings,
): void {
  body
    .withRuntime(settings.runtime)
    .withHandler(settings.handler)
    .withMemorySize(settings.memorySize)
    .withTimeout(settings.timeout)
    .withDescription(settings.description)
    .withUserData(JSON.stringify(settings.userData))
    .withEncryptedUserData(JSON.stringify(settings.encryptedUserData));
  if (settings.agency) body.withXrole(settings.agency);
  if (settings.vpc) {
    body.withFuncVpc(new FuncVpc(settings.vpc.vpcId, settings.vpc.subnetId));
  }
}

function settingsChecks(settings: FunctionSettings): Checks {
  return {
    "FSS.1005": `provider.runtime (${settings.runtime}): one of FunctionGraph's runtimes, such as Node.js20.15`,
    "FSS.1007": `provider.memorySize (${settings.memorySize}): 128, 256, 512, 768, 1024, … 4096`,
    "FSS.1008": `provider.timeout (${settings.timeout}): 3 to 259200 seconds`,
    "FSS.1003": `the handler (${settings.handler}): file.export, such as index.handler`,
    "FSS.1017": "the environment: FunctionGraph takes at most 20 variables, and 20 encrypted ones",
    "FSS.1018":
      "the environment: FunctionGraph takes at most 4 KB of variables, and 4 KB of encrypted ones",
    "FSS.1036": "the VPC id (vpcId): a VPC of this region",
    "FSS.1037": "the subnet id (subnetId): a subnet of that VPC",
    "FSS.1061": `the function name ${settings.name}: another function of the project has it`,
    400: `the function's settings in serverless.yml${settings.agency ? ` and that the agency ${settings.agency} exists in IAM` : ""}`,
    409: `the function name ${settings.name}`,
  };
}

/**
 * Sends one call and turns a refusal into a CloudCallError: the step, FunctionGraph's status,
 * error code, message and request id, and what to check. The SDK's exception carries the signed
 * request; only those four fields are kept, scrubbed of the credentials.
 */
async function call<T>(
  step: string,
  checks: Checks,
  credentials: DeployCredentials,
  send: () => Promise<T>,
): Promise<T> {
  try {
    return await send();
  } catch (error) {
    const failure = error as {
      httpStatusCode?: number;
      errorCode?: string | number;
      errorMsg?: string;
      requestId?: string;
      message?: string;
    };
    const scrub = (text: string) =>
      [credentials.ak, credentials.sk, credentials.securityToken]
        .filter((secret): secret is string => Boolean(secret))
        .reduce((scrubbed, secret) => scrubbed.split(secret).join("***"), text);
    const answer: CloudAnswer = {
      status: failure.httpStatusCode,
      code: failure.errorCode === undefined ? undefined : String(failure.errorCode),
      message: scrub(String(failure.errorMsg ?? failure.message ?? "no message")).slice(0, 500),
      requestId: failure.requestId,
    };
    throw new CloudCallError(step, answer, checkFor(answer, checks, credentials));
  }
}

function checkFor(answer: CloudAnswer, checks: Checks, credentials: DeployCredentials): string {
  const specific = (answer.code && checks[answer.code]) ?? (answer.status && checks[answer.status]);
  if (specific) return specific;
  switch (true) {
    case answer.status === undefined:
      return `that this machine reaches the endpoint (${ENDPOINT_VARIABLES.functionGraph} and ${ENDPOINT_VARIABLES.iam} name others; ${ENDPOINT_VARIABLES.timeout} is the time a call may take)`;
    case answer.status === 401:
      return `the access key from ${credentials.source}: that it is right and enabled, and that this machine's clock is within 15 minutes of the real time`;
    case answer.status === 403:
      return "the deploying user's permissions in this project: FunctionGraph FullAccess for functions and triggers, APIG Administrator for an API trigger's gateway, and (with a VPC) VPC ReadOnlyAccess";
    case answer.status === 429:
      return "FunctionGraph limits how fast its API is called: wait a minute";
    case (answer.status ?? 0) >= 500:
      return "FunctionGraph had a fault on its side: wait a moment";
    default:
      return "serverless.yml against FunctionGraph's API reference for this field";
  }
}
