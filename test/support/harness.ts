import {
  emulatorEnvironment,
  type HssEmulator,
  type HssEmulatorOptions,
  startHssEmulator,
} from "../../src/emulator/hss-emulator";
import type { SigningKey } from "../../src/emulator/signature";
import { createHandler, type HandlerOptions } from "../../src/handler";
import type { ScanReport } from "../../src/report";
import { createLocalContext } from "../../src/runners/context";
import { timerEvent } from "../../src/runners/server";
import { SAMPLE_WEBHOOK_SECRET } from "./fixtures";

export interface HttpAnswer {
  statusCode: number;
  headers: Record<string, string>;
  body: ScanReport & { message: string; status: string };
}

/**
 * A handler wired to a local HSS emulator over loopback, with its log lines captured.
 */
export interface Harness {
  emulator: HssEmulator;
  logs: string[];
  env: NodeJS.ProcessEnv;
  invoke(event: unknown, context?: object): Promise<unknown>;
  http(event: unknown): Promise<HttpAnswer>;
  logEvents(): Array<Record<string, unknown>>;
  /** The log lines of one event (`scan_finished`, `dead_lettered`, …). */
  logged(event: string): Array<Record<string, unknown>>;
  close(): Promise<void>;
}

/**
 * Most tests are about mapping, failures and answers, not HSS's rate limit: unless a test asks
 * for `rateLimited`, the emulator's limit is off and the function's call budget raised.
 */
export async function startHarness(
  env: NodeJS.ProcessEnv = {},
  options: Omit<HandlerOptions, "env" | "writeLog"> & {
    keys?: SigningKey[];
    rateLimited?: boolean;
    emulator?: Omit<HssEmulatorOptions, "keys">;
  } = {},
): Promise<Harness> {
  const { keys, rateLimited, emulator: emulatorOptions, ...handlerOptions } = options;
  const emulator = await startHssEmulator({
    keys,
    ...(rateLimited ? {} : { rateLimit: false }),
    ...emulatorOptions,
  });
  const logs: string[] = [];
  const fullEnv = {
    ...emulatorEnvironment(emulator),
    WEBHOOK_SECRET: SAMPLE_WEBHOOK_SECRET,
    ...(rateLimited ? {} : { HSS_CALLS_PER_MINUTE: "10000" }),
    ...env,
  };
  const handler = createHandler({
    ...handlerOptions,
    env: fullEnv,
    writeLog: (line) => logs.push(line),
  });
  const invoke = (event: unknown, context: object = createLocalContext()) =>
    handler(event, context as never);
  return {
    emulator,
    logs,
    env: fullEnv,
    invoke,
    async http(event) {
      const answer = (await invoke(event)) as {
        statusCode: number;
        headers: Record<string, string>;
        body: string;
      };
      return { ...answer, body: JSON.parse(answer.body) };
    },
    logEvents: () => logs.map((line) => JSON.parse(line) as Record<string, unknown>),
    logged: (event) =>
      logs
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((line) => line.event === event),
    close: async () => {
      await handler.close();
      await emulator.close();
    },
  };
}

/** The tags of every image in the batches the emulator accepted, in order. */
export function acceptedTags(emulator: HssEmulator): string[] {
  return emulator
    .acceptedBatches()
    .flatMap((batch) => ("image_info_list" in batch ? batch.image_info_list : []))
    .map((image) => image.image_version);
}

/**
 * Flushes as the timer trigger would, on each of `instances` in turn, every 250 ms until `done`
 * or the time is up.
 */
export async function flushUntil(
  instances: Array<{ invoke(event: unknown): Promise<unknown> }>,
  done: () => boolean,
  withinMs: number,
): Promise<void> {
  const until = Date.now() + withinMs;
  while (!done() && Date.now() < until) {
    for (const instance of instances) await instance.invoke(timerEvent());
    if (!done()) await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * One function instance against an emulator that several share (instances sharing a queue), with
 * its own log: the handler as FunctionGraph would run it, fed HTTP deliveries and timer events.
 */
export function functionInstance(emulator: HssEmulator, env: Record<string, string> = {}) {
  const logs: string[] = [];
  const handler = createHandler({
    env: { ...emulatorEnvironment(emulator), WEBHOOK_SECRET: SAMPLE_WEBHOOK_SECRET, ...env },
    writeLog: (line) => logs.push(line),
  });
  const invoke = (event: unknown) => handler(event, createLocalContext() as never);
  return {
    logs,
    invoke,
    http: async (event: unknown) => {
      const answer = (await invoke(event)) as {
        statusCode: number;
        headers: Record<string, string>;
        body: string;
      };
      return { ...answer, body: JSON.parse(answer.body) as HttpAnswer["body"] };
    },
    logged: (event: string) =>
      logs
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((line) => line.event === event),
    close: () => handler.close(),
  };
}

/** An SWR Enterprise image HSS has synced already (pushed a while ago), for tests that push it. */
export function inHss(
  emulator: HssEmulator,
  image: { namespace: string; name: string; tag: string; instance: string; host: string },
): void {
  emulator.push({
    image_type: "instance_image",
    namespace: image.namespace,
    image_name: image.name,
    image_version: image.tag,
    instance_id: image.instance,
    host: image.host,
    synced: true,
  });
}
