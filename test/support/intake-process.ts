import { createHandler } from "../../src/handler";
import { createLocalContext } from "../../src/runners/context";

/**
 * One function instance in its own process: handles the event given as its argument with the
 * configuration in its environment, then prints the answer. Tests kill it mid-call.
 */
const event = JSON.parse(process.argv[2] ?? "{}") as unknown;
const handler = createHandler({
  env: process.env,
  writeLog: (line) => process.stderr.write(`${line}\n`),
});
handler(event, createLocalContext() as never).then(
  (answer) => {
    process.stdout.write(JSON.stringify(answer));
    process.exit(0);
  },
  (error: Error) => {
    process.stdout.write(JSON.stringify({ error: error.message }));
    process.exit(1);
  },
);
