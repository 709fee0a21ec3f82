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

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  scan: (args) => runScan(args, process.env),
  queue: (args) => runQueue(args, process.env),
  "check-deploy": (args) => runCheckDeploy(args, process.env),
  wire: (args) => runWire(args, process.env),
  notify: (args) => runNotify(args, process.env),
  rescan: (args) => runRescan(args, process.env),
  invoke: (args) => runInvoke(args),
  start: (args) => runStart(args),
};

export const MAIN_HELP: CommandHelp = {
  name: PRODUCT,
  summary:
    "gets every image pushed to Huawei Cloud SWR scanned by HSS, and gates CI on the results",
  usage: `${PRODUCT} <command> [options]   (each command: --help)`,
  options: [
    ["scan <image>…", "ask HSS to scan images and wait for the verdict (the CI gate)"],
    ["queue status|flush|retry-dead", "the function's shared scan queue"],
    ["check-deploy <trigger URL>", "check a deployed function as a registry meets it"],
    [
      "wire --instance-id <id>",
      "wire every namespace of an SWR Enterprise instance to the function",
    ],
    ["notify --test", "post a sample alert to each configured chat channel"],
    ["rescan --dry-run|--now", "re-evaluate images already pushed (RESCAN_*)"],
    ["invoke <event.json>", "run the function once in this process"],
    ["start", "serve the function on this machine"],
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
  const run = command ? COMMANDS[command] : undefined;
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
