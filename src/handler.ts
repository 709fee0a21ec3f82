import middy from "@middy/core";
import type { Context as LambdaContext } from "aws-lambda";
import { CONFIG_VARIABLES, type Config, ConfigError, type Credentials, loadConfig } from "./config";
import type { Delivery } from "./delivery";
import { HttpError } from "./errors";
import { flushSettingsOf, scheduledFlush } from "./flush";
import { MemoryCallBudget } from "./hss/call-budget";
import { type SubmitterFactory, submitterSource } from "./hss/submitters";
import { scanOnPush } from "./intake";
import { createLogger, type Logger, secretScrubber } from "./log";
import { httpDelivery } from "./middleware/http-delivery";
import {
  agencyCredentialsOf,
  deadlineOf,
  type PlatformContext,
  projectIdOf,
  requestIdOf,
  variablesOf,
} from "./platform-context";
import { openQueue } from "./queue/open-queue";
import type { ScanQueue } from "./queue/scan-queue";
import type { SetupSummary } from "./report";
import { SubmittedImages } from "./submitted-images";

export interface HandlerOptions {
  /** Where configuration is read from; `process.env` by default. */
  env?: NodeJS.ProcessEnv;
  /** Where log lines go; stderr by default. */
  writeLog?: (line: string) => void;
  /** Builds the HSS client; tests give a recording one. */
  createSubmitter?: SubmitterFactory;
}

/** What a warm instance keeps between invocations. */
interface InstanceState {
  config: Config;
  queue?: ScanQueue;
  instance: { budget: MemoryCallBudget; submitted: SubmittedImages };
}

/**
 * Builds the function's handler: glue between the platform (middleware, context) and the job.
 * Registry deliveries go to intake (`scanOnPush`), scheduled invocations to the flusher.
 * Configuration is read and validated on the first invocation (an error then names the
 * variable), from the environment and the context's user data (FunctionGraph's encrypted
 * variables); the HSS client, the queue connection, this instance's call budget and its memory
 * of submitted images live as long as the warm instance.
 */
export function createHandler(options: HandlerOptions = {}) {
  const submitterFor = submitterSource(options.createSubmitter);
  let state: Promise<InstanceState> | undefined;

  const initialise = async (context: PlatformContext): Promise<InstanceState> => {
    const config = loadConfig(variablesOf(options.env ?? process.env, context, CONFIG_VARIABLES));
    const instance = {
      budget: new MemoryCallBudget(config.hss.callsPerMinute, config.hss.rateWindowMs),
      submitted: new SubmittedImages(config.dedupe.windowMs, config.dedupe.maxImages),
    };
    return { config, queue: await openQueue(config, instance), instance };
  };
  // One state per instance, also when the first invocations arrive together.
  const prepare = (context: PlatformContext): Promise<InstanceState> => {
    state ??= initialise(context).catch((error: unknown) => {
      state = undefined;
      throw error;
    });
    return state;
  };

  // middy types the context as Lambda's; FunctionGraph's differs, so it is read as PlatformContext.
  const handler = middy<unknown, unknown, Error, LambdaContext>()
    .use(httpDelivery())
    .handler(async (event, lambdaContext) => {
      const context = lambdaContext as unknown as PlatformContext;
      const requestId = requestIdOf(context);
      let log: Logger = createLogger({ level: "info", requestId, write: options.writeLog });
      try {
        const { config, queue, instance } = await prepare(context);
        const credentials = agencyCredentialsOf(context) ?? config.credentials;
        log = createLogger({
          level: config.logLevel,
          requestId,
          secrets: [
            ...secretsOf(credentials, config.credentials),
            ...config.webhook.secrets,
            ...config.queue.secrets,
            config.notify.webhookUrl ?? "",
            config.notify.smnTopic ?? "",
          ],
          write: options.writeLog,
        });
        const delivery = event as Delivery;
        const submitter = () => submitterFor(config, credentials, context);
        // Built only when the follow-up finds a finished scan to tell about.
        const notifier = async () =>
          (await import("./follow-up/notify")).createNotifier({
            notify: config.notify,
            credentials,
            projectId: config.hss.projectId ?? projectIdOf(context),
            region: config.hss.region,
            timeoutMs: config.hss.timeoutMs,
            log,
          });
        if (delivery.kind === "schedule") {
          return await scheduledFlush(queue, {
            submitter,
            ...flushSettingsOf(config),
            deadline: deadlineOf(context, { marginMs: config.deadline.marginMs }),
            log,
            dryRun: config.dryRun,
            requestId,
            trigger: `${delivery.source}${delivery.name ? ` ${delivery.name}` : ""}`,
            followUpContext: { config, notifier },
          });
        }
        return await scanOnPush(delivery, {
          config,
          log,
          requestId,
          queue,
          instance,
          deadline: deadlineOf(context, {
            marginMs: config.deadline.marginMs,
            httpMs: delivery.kind === "http" ? config.deadline.httpMs : undefined,
          }),
          submitter,
          notifier,
          previewer: () => submitterFor({ ...config, dryRun: true }, credentials, context),
          describeSetup: () => describeSetup(config, queue, context),
        });
      } catch (error) {
        logRejection(log, error);
        throw error;
      }
    });
  return Object.assign(handler, {
    /** Closes the queue's connection (tests and local tools; a function instance just ends). */
    async close(): Promise<void> {
      const current = await state?.catch(() => undefined);
      await current?.queue?.close();
    },
  });
}

/** What a dry run tells about the setup: where HSS calls go and what they would sign with. */
async function describeSetup(
  config: Config,
  queue: ScanQueue | undefined,
  context: PlatformContext,
): Promise<SetupSummary> {
  let reachable: { reachable?: boolean; problem?: string } = {};
  if (queue) {
    // This goes into an HTTP answer, not through the logger: the Redis password is scrubbed here.
    const scrub = secretScrubber(config.queue.secrets);
    reachable = await queue.counts().then(
      () => ({ reachable: true }),
      (error: Error) => ({ reachable: false, problem: scrub(error.message) }),
    );
  }
  return {
    hss: {
      endpoint: config.hss.endpoint,
      region: config.hss.region,
      project_id: config.hss.projectId
        ? "configured"
        : projectIdOf(context)
          ? "from the runtime"
          : "missing",
      credentials: agencyCredentialsOf(context)
        ? "agency"
        : config.credentials
          ? "access key"
          : "missing",
      enterprise_project_id: config.hss.enterpriseProjectId,
    },
    queue: { backend: config.queue.backend, ...reachable },
    calls_per_minute: config.hss.callsPerMinute,
  };
}

function secretsOf(...credentials: Array<Credentials | undefined>): string[] {
  return credentials.flatMap((c) => (c ? [c.ak, c.sk, c.securityToken ?? ""] : []));
}

function logRejection(log: Logger, error: unknown): void {
  if (error instanceof HttpError) {
    // A report's failures were each logged where they happened.
    if (error.report) return;
    log.warn("rejected", { status: error.statusCode, reason: error.message });
    return;
  }
  const { name, message } = error instanceof Error ? error : new Error(String(error));
  log.error("error", {
    error: name,
    reason: message,
    ...(error instanceof ConfigError ? { misconfigured: true } : {}),
  });
}

export const handler = createHandler();
