import { readFileSync } from "node:fs";
import { HttpError } from "../errors";
import { createLocalContext } from "./context";
import { prepareLocalEnvironment } from "./local-environment";
import { timerEvent } from "./server";
import { summariseOutcome } from "./summary";

/**
 * Runs the handler once, in this process, with an event file:
 *   npm run --silent invoke -- [--dry-run] events/apig-swr-ee-push.json
 * Stdout carries exactly one JSON value: the handler's return value, or the error it rejected
 * with. Logs, then a short human summary, go to stderr. Exit 0 when the handler returned, 1 when
 * it rejected, 2 for usage errors. `--dry-run` does everything but call HSS (DRY_RUN=true).
 */
const USAGE = "usage: npm run --silent invoke -- [--dry-run] <event.json>";
const FLAGS = new Set(["--dry-run"]);

const say = (line: string) => process.stderr.write(`${line}\n`);

function readEvent(args: string[]): unknown {
  const files = args.filter((arg) => !arg.startsWith("--"));
  const unknownFlags = args.filter((arg) => arg.startsWith("--") && !FLAGS.has(arg));
  if (unknownFlags.length > 0 || files.length !== 1) {
    say(unknownFlags.length > 0 ? `unknown option ${unknownFlags[0]}\n${USAGE}` : USAGE);
    process.exit(2);
  }
  const file = files[0] as string;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    say(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}\n${USAGE}`);
    process.exit(2);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    say(`${file} is not JSON: ${(error as Error).message}`);
    process.exit(2);
  }
}

type Handler = (event: unknown, context: never) => Promise<unknown>;

/** The in-process queue dies with this process: flush it until empty, waiting out HSS's budget. */
const DRAIN_LIMIT_MS = 3 * 60_000;

async function drainMemoryQueue(handler: Handler): Promise<string> {
  const until = Date.now() + DRAIN_LIMIT_MS;
  let submitted = 0;
  let calls = 0;
  for (;;) {
    const report = (await handler(
      timerEvent("invoke-drain"),
      createLocalContext({ env: process.env }) as never,
    )) as {
      flush?: { images_submitted: number; hss_calls: number; retry_after_ms?: number };
      queue?: { pending: number; claimed: number; dead_lettered: number };
    };
    submitted += report.flush?.images_submitted ?? 0;
    calls += report.flush?.hss_calls ?? 0;
    const left = (report.queue?.pending ?? 0) + (report.queue?.claimed ?? 0);
    const dead = report.queue?.dead_lettered ?? 0;
    const done = `${submitted} more image${submitted === 1 ? "" : "s"} in ${calls} HSS call${calls === 1 ? "" : "s"}`;
    if (left === 0) {
      const sent =
        submitted > 0 ? `queue drained: ${done}` : "nothing left on the in-process queue";
      return `${sent}${dead > 0 ? `; ${dead} dead-lettered (HSS rejected them)` : ""}`;
    }
    const wait = Math.min(report.flush?.retry_after_ms ?? 1000, 61_000) + 100;
    if (Date.now() + wait > until) return `queue not drained: ${left} still queued after ${done}`;
    say(
      `waiting ${Math.ceil(wait / 1000)} s for HSS's rate limit before sending ${left} queued image${left === 1 ? "" : "s"}`,
    );
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/** How many images the answer (a report, or an HTTP answer holding one) left on the queue. */
function queuedCount(result: unknown): number {
  const answer = result as { body?: unknown; queued?: unknown[] } | undefined;
  if (typeof answer?.body === "string") {
    try {
      return queuedCount(JSON.parse(answer.body));
    } catch {
      return 0;
    }
  }
  return Array.isArray(answer?.queued) ? answer.queued.length : 0;
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const event = readEvent(args);
  if (args.includes("--dry-run")) process.env.DRY_RUN = "true";
  const emulator = await prepareLocalEnvironment(process.env, say);
  // Loaded after the environment is final: the handler reads its configuration on first use.
  const { handler } = await import("../handler");
  try {
    const result = await handler(event, createLocalContext({ env: process.env }) as never);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    say(summariseOutcome({ result }));
    if (process.env.SCAN_QUEUE === "memory" && queuedCount(result) > 0) {
      say(await drainMemoryQueue(handler as unknown as Handler));
    }
    return 0;
  } catch (error) {
    const { name, message } = error instanceof Error ? error : new Error(String(error));
    const report = error instanceof HttpError ? error.report : undefined;
    process.stdout.write(
      `${JSON.stringify({ errorType: name, errorMessage: message, report }, null, 2)}\n`,
    );
    say(summariseOutcome({ error: error as Error }));
    return 1;
  } finally {
    await emulator?.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    say(`invoke failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
