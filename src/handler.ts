import middy from "@middy/core";
import type { Context as LambdaContext } from "aws-lambda";
import { type Config, ConfigError, type Credentials, loadConfig } from "./config";
import type { Delivery } from "./delivery";
import {
  type BatchScanSubmitter,
  createDryRunSubmitter,
  createHssClient,
  type HssClientOptions,
} from "./hss/client";
import { createLogger, type Logger } from "./log";
import { httpDelivery } from "./middleware/http-delivery";
import {
  agencyCredentialsOf,
  type PlatformContext,
  projectIdOf,
  remainingTimeOf,
  requestIdOf,
} from "./platform-context";
import { RecentSubmissions } from "./recent-submissions";
import { scanOnPush } from "./scan-on-push";

export interface HandlerOptions {
  /** Where configuration is read from; `process.env` by default. */
  env?: NodeJS.ProcessEnv;
  /** Where log lines go; stderr by default. */
  writeLog?: (line: string) => void;
  createSubmitter?: (options: HssClientOptions) => BatchScanSubmitter;
}

/**
 * Builds the function's handler. Configuration is read and validated on the first invocation
 * (an error then names the variable), and HSS clients are reused across warm invocations for as
 * long as the credentials stay the same (agency credentials rotate).
 */
export function createHandler(options: HandlerOptions = {}) {
  const createSubmitter = options.createSubmitter ?? createHssClient;
  let config: Config | undefined;
  let recent: RecentSubmissions | undefined;
  let client: { key: string; submitter: BatchScanSubmitter } | undefined;

  const submitterFor = (
    current: Config,
    credentials: Credentials | undefined,
    context: PlatformContext,
  ) => {
    // A dry run needs no credentials: nothing is signed or sent.
    if (current.dryRun) {
      return createDryRunSubmitter({
        endpoint: current.hss.endpoint,
        region: current.hss.region,
        projectId: current.hss.projectId ?? projectIdOf(context) ?? "{project_id}",
        enterpriseProjectId: current.hss.enterpriseProjectId,
      });
    }
    if (!credentials) {
      throw new ConfigError(
        "no credentials for HSS: give the function an agency with HSS permissions, or set CLOUD_SDK_AK and CLOUD_SDK_SK",
      );
    }
    const projectId = current.hss.projectId ?? projectIdOf(context);
    if (!projectId)
      throw new ConfigError("HSS_PROJECT_ID: set it to the project id of the HSS region");
    const key = JSON.stringify([
      credentials.ak,
      credentials.sk,
      credentials.securityToken,
      projectId,
    ]);
    if (client?.key !== key) {
      const submitter = createSubmitter({
        endpoint: current.hss.endpoint,
        region: current.hss.region,
        projectId,
        enterpriseProjectId: current.hss.enterpriseProjectId,
        credentials,
      });
      client = { key, submitter };
    }
    return client.submitter;
  };

  // middy types the context as Lambda's; FunctionGraph's differs, so it is read as PlatformContext.
  return middy<unknown, unknown, Error, LambdaContext>()
    .use(httpDelivery())
    .handler(async (event, lambdaContext) => {
      const context = lambdaContext as unknown as PlatformContext;
      const requestId = requestIdOf(context);
      let log: Logger = createLogger({ level: "info", requestId, write: options.writeLog });
      try {
        config ??= loadConfig(options.env ?? process.env);
        recent ??= new RecentSubmissions(config.dedupe.windowMs, config.dedupe.maxImages);
        const credentials = agencyCredentialsOf(context) ?? config.credentials;
        log = createLogger({
          level: config.logLevel,
          requestId,
          secrets: [...secretsOf(credentials, config.credentials), ...config.webhook.secrets],
          write: options.writeLog,
        });
        const current = config;
        const delivery = event as Delivery;
        return await scanOnPush(delivery, {
          config: current,
          log,
          requestId,
          recent,
          deadline: deadlineOf(delivery, context, current),
          submitter: () => submitterFor(current, credentials, context),
        });
      } catch (error) {
        logRejection(log, error);
        throw error;
      }
    });
}

/** When no platform tells the remaining time, a direct invocation gets this much. */
const DEFAULT_DIRECT_BUDGET_MS = 60_000;

/**
 * The time by which every HSS call must have ended: the platform's remaining time less a safety
 * margin (so that the answer is written before the platform kills the invocation) and, for HTTP
 * deliveries, no later than the sender waits (Harbor gives up after 3 s by default).
 */
function deadlineOf(delivery: Delivery, context: PlatformContext, config: Config): number {
  const remaining = remainingTimeOf(context);
  const platformBudget =
    remaining === undefined ? DEFAULT_DIRECT_BUDGET_MS : remaining - config.deadline.marginMs;
  const budget =
    delivery.kind === "http" ? Math.min(platformBudget, config.deadline.httpMs) : platformBudget;
  return Date.now() + budget;
}

function secretsOf(...credentials: Array<Credentials | undefined>): string[] {
  return credentials.flatMap((c) => (c ? [c.ak, c.sk, c.securityToken ?? ""] : []));
}

function logRejection(log: Logger, error: unknown): void {
  const { statusCode, message, name } = error as {
    statusCode?: number;
    message?: string;
    name?: string;
  };
  if (statusCode === 502) return; // each failed batch was logged where it failed
  if (typeof statusCode === "number" && statusCode < 500) {
    log.warn("rejected", { status: statusCode, reason: message });
  } else {
    log.error("error", { error: name, reason: message });
  }
}

export const handler = createHandler();
