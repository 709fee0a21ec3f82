import { runInvoke } from "../runners/invoke";
import { runStart } from "../runners/server";
import { runCheckDeploy } from "./check-deploy";
import { answeredHelpOrVersion, type CommandHelp, helpText, PRODUCT } from "./command";
import { runNotify } from "./notify";
import { runQueue } from "./queue";
import { runRescan } from "./rescan";
import { runScan } from "./scan";
import { runWire } from "./wire";

/**
 * `swr-scan-on-push <command> …`: the installed package's one executable (package.json `bin`,
 * built into dist-cli/ by scripts/build-cli.ts). Each command answers `--help` and `--version`.
 */

/** Every command, once: what dispatches it and what the main help says of it. */
const COMMANDS: Array<{
  name: string;
  /** How it is typed, after the executable's name. */
  synopsis: string;
  summary: string;
  run: (args: string[]) => Promise<number>;
}> = [
  {
    name: "scan",
    synopsis: "scan <image>…",
    summary: "ask HSS to scan images and wait for the verdict (the CI gate)",
    run: (args) => runScan(args, process.env),
  },
  {
    name: "queue",
    synopsis: "queue status|flush|retry-dead",
    summary: "the function's shared scan queue",
    run: (args) => runQueue(args, process.env),
  },
  {
    name: "check-deploy",
    synopsis: "check-deploy <trigger URL>",
    summary: "check a deployed function as a registry meets it",
    run: (args) => runCheckDeploy(args, process.env),
  },
  {
    name: "wire",
    synopsis: "wire --instance-id <id>",
    summary: "wire every namespace of an SWR Enterprise instance to the function",
    run: (args) => runWire(args, process.env),
  },
  {
    name: "notify",
    synopsis: "notify --test",
    summary: "post a sample alert to each configured chat channel",
    run: (args) => runNotify(args, process.env),
  },
  {
    name: "rescan",
    synopsis: "rescan --dry-run|--now",
    summary: "re-evaluate images already pushed (RESCAN_*)",
    run: (args) => runRescan(args, process.env),
  },
  {
    name: "invoke",
    synopsis: "invoke <event.json>",
    summary: "run the function once in this process",
    run: (args) => runInvoke(args),
  },
  {
    name: "start",
    synopsis: "start",
    summary: "serve the function on this machine",
    run: (args) => runStart(args),
  },
];

export const MAIN_HELP: CommandHelp = {
  name: PRODUCT,
  summary:
    "gets every image pushed to Huawei Cloud SWR scanned by HSS, and gates CI on the results",
  usage: `${PRODUCT} <command> [options]   (each command: --help)`,
  options: [
    ...COMMANDS.map(({ synopsis, summary }): [string, string] => [synopsis, summary]),
    ["-h, --help", "this help"],
    ["--version", "the version"],
  ],
  exits: [
    [0, "done"],
    [2, "usage error; each command says its own statuses"],
  ],
};

export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  const run = COMMANDS.find(({ name }) => name === command)?.run;
  if (run) return run(rest);
  if (answeredHelpOrVersion(args, MAIN_HELP)) return 0;
  process.stderr.write(`${command ? `unknown command ${command}\n\n` : ""}${helpText(MAIN_HELP)}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `${PRODUCT} failed: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
