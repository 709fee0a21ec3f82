import { readFileSync } from "node:fs";
import { createLocalContext } from "./context";
import { prepareLocalEnvironment } from "./local-setup";
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
    return 0;
  } catch (error) {
    const { name, message, report } = error as Error & { report?: unknown };
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
