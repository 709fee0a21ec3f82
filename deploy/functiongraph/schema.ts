/**
 * What serverless.yml may say to this provider, as JSON schema for the framework's validation
 * (`configValidationMode: error` makes a typo a failure before anything is sent). The names follow
 * the framework's usual shape (provider.runtime, memorySize, timeout, environment; one key per
 * event); FunctionGraph's own terms are mapped in service.ts.
 */

const variables = {
  type: "object",
  propertyNames: { pattern: "^[A-Za-z][A-Za-z0-9_]*$" },
  additionalProperties: { type: "string" },
} as const;

/** The memory sizes FunctionGraph's API reference lists (MB). */
export const MEMORY_SIZES = [
  128, 256, 512, 768, 1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096,
] as const;

const functionSettings = {
  runtime: { type: "string", minLength: 1 },
  memorySize: { enum: [...MEMORY_SIZES] },
  timeout: { type: "integer", minimum: 3, maximum: 259_200 },
  agencyName: { type: "string" },
  environment: variables,
  encryptedEnvironment: variables,
} as const;

export const providerSchema = {
  provider: {
    properties: {
      ...functionSettings,
      region: { type: "string", pattern: "^[a-z]{2}(-[a-z]+)+-\\d+$" },
      projectId: { type: "string", pattern: "^([A-Za-z0-9]{1,64})?$" },
      credentials: { type: "string" },
      enterpriseProjectId: { type: "string" },
    },
  },
  function: {
    properties: {
      ...functionSettings,
      handler: { type: "string", pattern: "^[^.\\s]+\\.[^\\s]+$" },
      description: { type: "string", maxLength: 400 },
      vpcId: { type: "string" },
      subnetId: { type: "string" },
    },
    required: ["handler"],
  },
} as const;

/** `- apiGateway: {…}`: an API on a dedicated gateway (DEDICATEDGATEWAY) or the shared one (APIG). */
export const apiGatewayEvent = {
  type: "object",
  properties: {
    type: { enum: ["DEDICATEDGATEWAY", "APIG"] },
    name: { type: "string", pattern: "^[A-Za-z][A-Za-z0-9_]{2,63}$" },
    instanceId: { type: "string" },
    groupId: { type: "string" },
    envName: { type: "string", minLength: 1 },
    envId: { type: "string", minLength: 1 },
    protocol: { enum: ["HTTP", "HTTPS"] },
    method: { enum: ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS", "ANY"] },
    matchMode: { enum: ["NORMAL", "SWA"] },
    path: { type: "string", pattern: "^/" },
    auth: { enum: ["NONE", "IAM", "APP"] },
    timeout: { type: "integer", minimum: 1, maximum: 60_000 },
  },
  required: ["name", "path"],
  additionalProperties: false,
} as const;

/** `- timer: {…}`: a TIMER trigger, at a fixed Rate or on a Cron expression with seconds. */
export const timerEvent = {
  type: "object",
  properties: {
    name: { type: "string", pattern: "^[A-Za-z][A-Za-z0-9_-]{0,63}$" },
    scheduleType: { enum: ["Rate", "Cron"] },
    schedule: { type: "string", minLength: 1 },
    userEvent: { type: "string" },
    status: { enum: ["ACTIVE", "DISABLED"] },
  },
  required: ["name", "schedule"],
  additionalProperties: false,
} as const;
