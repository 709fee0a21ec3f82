import middy from "@middy/core";
import type { Context as LambdaContext } from "aws-lambda";
import { type Config, type Credentials, loadConfig } from "./config";
import type { Delivery } from "./delivery";
import { type SubmitterFactory, submitterSource } from "./hss/submitters";
import { createLogger, type Logger } from "./log";
import { httpDelivery } from "./middleware/http-delivery";
import {
  agencyCredentialsOf,
  deadlineOf,
  type PlatformContext,
  requestIdOf,
} from "./platform-context";
import { RecentSubmissions } from "./recent-submissions";
import { scanOnPush } from "./scan-on-push";

export interface HandlerOptions {
  /** Where configuration is read from; `process.env` by default. */
  env?: NodeJS.ProcessEnv;
  /** Where log lines go; stderr by default. */
  writeLog?: (line: string) => void;
  /** Builds the HSS client; tests give a recording one. */
  createSubmitter?: SubmitterFactory;
}

/**
 * Builds the function's handler: glue between the platform (middleware, context) and the job
 * (`scanOnPush`). Configuration is read and validated on the first invocation (an error then
 * names the variable); the HSS client and the memory of recent submissions live as long as the
 * warm instance.
 */
export function createHandler(options: HandlerOptions = {}) {
  const submitterFor = submitterSource(options.createSubmitter);
  let config: Config | undefined;
  let recent: RecentSubmissions | undefined;

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
        const current = config;
        const credentials = agencyCredentialsOf(context) ?? current.credentials;
        log = createLogger({
          level: current.logLevel,
          requestId,
          secrets: [...secretsOf(credentials, current.credentials), ...current.webhook.secrets],
          write: options.writeLog,
        });
        const delivery = event as Delivery;
        return await scanOnPush(delivery, {
          config: current,
          log,
          requestId,
          recent,
          deadline: deadlineOf(context, {
            marginMs: current.deadline.marginMs,
            httpMs: delivery.kind === "http" ? current.deadline.httpMs : undefined,
          }),
          submitter: () => submitterFor(current, credentials, context),
        });
      } catch (error) {
        logRejection(log, error);
        throw error;
      }
    });
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
