import middy from "@middy/core";
import type { Context as LambdaContext } from "aws-lambda";
import { type CallerFactory, type Instance, invocationOf, openInstance } from "./composition-root";
import { ConfigError } from "./config";
import type { Delivery } from "./delivery";
import { HttpError } from "./errors";
import { scheduledFlush } from "./flush/scheduled";
import { scanOnPush } from "./intake";
import { createLogger, type Logger } from "./log";
import { httpDelivery } from "./middleware/http-delivery";
import { type PlatformContext, requestIdOf } from "./platform-context";

export interface HandlerOptions {
  /** Where configuration is read from; `process.env` by default. */
  env?: NodeJS.ProcessEnv;
  /** Where log lines go; stderr by default. */
  writeLog?: (line: string) => void;
  /** Builds the signed-call clients; tests give a recording one. */
  createCaller?: CallerFactory;
}

/**
 * Builds the function's handler: glue between the platform (middleware, context) and the job.
 * Registry deliveries go to intake (`scanOnPush`), scheduled invocations to the flusher. What they
 * work with is built in one place (composition-root.ts): per warm instance on the first
 * invocation, when configuration is read and validated (an error then names the variable), from
 * the environment and the context's user data (FunctionGraph's encrypted variables); per
 * invocation, the logger, the deadline and the HSS senders.
 */
export function createHandler(options: HandlerOptions = {}) {
  let state: Promise<Instance> | undefined;
  // One instance state, also when the first invocations arrive together.
  const prepare = (context: PlatformContext): Promise<Instance> => {
    state ??= openInstance(options.env ?? process.env, context, options.createCaller).catch(
      (error: unknown) => {
        state = undefined;
        throw error;
      },
    );
    return state;
  };

  // middy types the context as Lambda's; FunctionGraph's differs, so it is read as PlatformContext.
  const handler = middy<unknown, unknown, Error, LambdaContext>()
    .use(httpDelivery())
    .handler(async (event, lambdaContext) => {
      const context = lambdaContext as unknown as PlatformContext;
      let log: Logger = createLogger({
        level: "info",
        requestId: requestIdOf(context),
        write: options.writeLog,
      });
      try {
        const instance = await prepare(context);
        const run = invocationOf(instance, context, options.writeLog);
        log = run.log;
        // Alongside the work, not before it: the first invocation of an instance waits no longer.
        const checked = instance.checkQueueOnce(run.log);
        const delivery = event as Delivery;
        try {
          if (delivery.kind === "schedule") {
            const flushed = await scheduledFlush(instance.queue, {
              flush: run.flush(run.deadline("schedule")),
              followUp: run.followUp,
              rescan: run.rescan,
              dryRun: run.config.dryRun,
              requestId: run.requestId,
              trigger: `${delivery.source}${delivery.name ? ` ${delivery.name}` : ""}`,
            });
            const wiring = run.config.dryRun
              ? undefined
              : await run.keepWired?.(run.deadline("schedule"));
            return wiring ? { ...flushed, wiring } : flushed;
          }
          return await scanOnPush(delivery, {
            ...run,
            queue: instance.queue,
            own: instance.own,
            scanApi: instance.scanApi,
            deadline: run.deadline(delivery.kind),
          });
        } finally {
          await checked;
        }
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
