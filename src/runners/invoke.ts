import { readFileSync } from "node:fs";
import { defineCommand, helpOf, helpText, readCommandLine } from "../cli/command";
import { HttpError } from "../errors";
import { describeTarget, type ScanTarget } from "../images/scan-target";
import { createLocalContext } from "./context";
import {
  configurationProblems,
  describeProblems,
  prepareLocalEnvironment,
} from "./local-environment";
import { timerEvent } from "./server";
import { summariseOutcome } from "./summary";

/**
 * Runs the handler once, in this process, with an event file:
 *   npm run --silent invoke -- [--dry-run] events/apig-swr-ee-push.json
 * Stdout carries exactly one JSON value: the handler's return value, or the error it rejected
 * with. Logs, then a short human summary, go to stderr. Exit 0 when the handler returned, 1 when
 * it rejected or when an image it accepted was dead-lettered or is still on the in-process queue
 * at the end (it dies with this process), 2 for usage errors. `--dry-run` does everything but
 * call HSS (DRY_RUN=true).
 */
export const INVOKE_COMMAND = defineCommand({
  name: "swr-scan-on-push invoke",
  summary: "runs the function once, in this process, with an event file",
  usage:
    "swr-scan-on-push invoke [--dry-run] <event.json>   (in a clone: npm run --silent invoke -- …)",
  operands: [
    [
      "<event.json>",
      "the event, as FunctionGraph or Lambda would hand it over (samples in events/)",
    ],
  ],
  flags: {
    "dry-run": {
      type: "boolean",
      default: false,
      help: "everything but the calls to HSS (DRY_RUN=true)",
    },
  },
  variables: [
    ["(every function variable)", "as deployed: docs/configuration.md"],
    ["(none of HSS_*)", "the embedded HSS emulator answers, on this machine only"],
    ["SCAN_QUEUE", "unset: the in-process queue, drained before the process ends"],
    ["INVOKE_DRAIN_SECONDS", "how long to wait for HSS's rate limit to send what was queued (180)"],
  ],
  exits: [
    [0, "the function answered, and every image it accepted was sent (or is on a Redis queue)"],
    [1, "it rejected, or an image was dead-lettered or is still on the in-process queue (named)"],
    [2, "usage or configuration error (every problem listed)"],
  ],
});
export const INVOKE_HELP = helpOf(INVOKE_COMMAND);

const say = (line: string) => process.stderr.write(`${line}\n`);

function readEvent(files: string[]): { event: unknown } | { code: number } {
  if (files.length !== 1) {
    say("give one event file");
    say(helpText(INVOKE_HELP));
    return { code: 2 };
  }
  const file = files[0] as string;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    say(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    say(helpText(INVOKE_HELP));
    return { code: 2 };
  }
  try {
    return { event: JSON.parse(text) };
  } catch (error) {
    say(`${file} is not JSON: ${(error as Error).message}`);
    return { code: 2 };
  }
}

type Handler = (event: unknown, context: never) => Promise<unknown>;

/**
 * The in-process queue dies with this process: flush it until empty, waiting out HSS's budget,
 * for INVOKE_DRAIN_SECONDS at most (180).
 */
function drainLimitMs(): number {
  const seconds = Number(process.env.INVOKE_DRAIN_SECONDS ?? 180);
  return (Number.isFinite(seconds) && seconds >= 0 ? seconds : 180) * 1000;
}

type DeadLetterLine = { image: string; error_code: string; error_msg: string };

interface Drained {
  message: string;
  /** Images still queued when the drain gave up (they die with this process). */
  left: string[];
  leftCount: number;
  dead: DeadLetterLine[];
}

interface DrainReport {
  flush?: {
    images_submitted: number;
    hss_calls: number;
    retry_after_ms?: number;
    dead_letters?: DeadLetterLine[];
  };
  queue?: { pending: number; claimed: number; dead_lettered: number };
  waiting?: string[];
}

async function drainMemoryQueue(handler: Handler): Promise<Drained> {
  const until = Date.now() + drainLimitMs();
  let submitted = 0;
  let calls = 0;
  const dead: DeadLetterLine[] = [];
  for (;;) {
    const report = (await handler(
      timerEvent("invoke-drain"),
      createLocalContext({ env: process.env }) as never,
    )) as DrainReport;
    submitted += report.flush?.images_submitted ?? 0;
    calls += report.flush?.hss_calls ?? 0;
    dead.push(...(report.flush?.dead_letters ?? []));
    const left = (report.queue?.pending ?? 0) + (report.queue?.claimed ?? 0);
    const done = `${submitted} more image${submitted === 1 ? "" : "s"} in ${calls} HSS call${calls === 1 ? "" : "s"}`;
    if (left === 0) {
      const message =
        submitted > 0 ? `queue drained: ${done}` : "nothing left on the in-process queue";
      return { message, left: [], leftCount: 0, dead };
    }
    const wait = Math.min(report.flush?.retry_after_ms ?? 1000, 61_000) + 100;
    if (Date.now() + wait > until) {
      return {
        message: `queue not drained: ${left} still queued after ${done}`,
        left: report.waiting ?? [],
        leftCount: left,
        dead,
      };
    }
    say(
      `waiting ${Math.ceil(wait / 1000)} s for HSS's rate limit before sending ${left} queued image${left === 1 ? "" : "s"}`,
    );
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/** The report in an answer (a report, or an HTTP answer holding one). */
function reportOf(result: unknown): { queued?: unknown[]; dead_lettered?: unknown[] } {
  const answer = result as { body?: unknown } | undefined;
  if (typeof answer?.body === "string") {
    try {
      return reportOf(JSON.parse(answer.body));
    } catch {
      return {};
    }
  }
  return (answer ?? {}) as { queued?: unknown[]; dead_lettered?: unknown[] };
}

/**
 * The exit status of an invocation the handler answered: 1 when an image it accepted was
 * dead-lettered, or is still on the in-process queue when this process ends (and dies with it);
 * each named.
 */
async function settle(result: unknown, handler: Handler): Promise<number> {
  const report = reportOf(result);
  const dead: DeadLetterLine[] = (report.dead_lettered ?? []).map((entry) => {
    const letter = entry as ScanTarget & { error: { error_code: string; error_msg: string } };
    return {
      image: describeTarget(letter),
      error_code: letter.error.error_code,
      error_msg: letter.error.error_msg,
    };
  });
  let left: string[] = [];
  let leftCount = 0;
  if (process.env.SCAN_QUEUE === "memory" && (report.queued?.length ?? 0) > 0) {
    const drained = await drainMemoryQueue(handler);
    say(drained.message);
    dead.push(...drained.dead);
    ({ left, leftCount } = drained);
  }
  for (const letter of dead) {
    say(`dead-lettered: ${letter.image} — ${letter.error_code}: ${letter.error_msg}`);
  }
  if (leftCount > 0) {
    say(
      `not sent, lost when this process ends (in-process queue): ${left.join(", ")}${leftCount > left.length ? ` and ${leftCount - left.length} more` : ""}`,
    );
  }
  return dead.length > 0 || leftCount > 0 ? 1 : 0;
}

export async function runInvoke(args: string[]): Promise<number> {
  const line = readCommandLine(INVOKE_COMMAND, args, (parsed) => parsed);
  if ("exit" in line) return line.exit;
  const read = readEvent(line.options.positionals);
  if ("code" in read) return read.code;
  if (line.options.values["dry-run"]) process.env.DRY_RUN = "true";
  const emulator = await prepareLocalEnvironment(process.env, say);
  try {
    const problems = configurationProblems(process.env);
    if (problems) {
      say(describeProblems(problems));
      return 2;
    }
    // Loaded after the environment is final: the handler reads its configuration on first use.
    const { handler } = await import("../handler");
    try {
      return await invokeOnce(handler as unknown as Handler, read.event);
    } finally {
      // A Redis queue's connection would keep this process alive after its answer.
      await handler.close();
    }
  } finally {
    await emulator?.close();
  }
}

async function invokeOnce(handler: Handler, event: unknown): Promise<number> {
  try {
    const result = await handler(event, createLocalContext({ env: process.env }) as never);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    say(summariseOutcome({ result }));
    return await settle(result, handler);
  } catch (error) {
    const { name, message } = error instanceof Error ? error : new Error(String(error));
    const report = error instanceof HttpError ? error.report : undefined;
    process.stdout.write(
      `${JSON.stringify({ errorType: name, errorMessage: message, report }, null, 2)}\n`,
    );
    say(summariseOutcome({ error: error as Error }));
    return 1;
  }
}

if (require.main === module) {
  runInvoke(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      say(`invoke failed: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 1;
    },
  );
}
