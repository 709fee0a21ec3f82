import { answeredHelpOrVersion, type CommandHelp, helpText, PRODUCT } from "./command";
import { COMMANDS } from "./commands";

/**
 * `swr-scan-on-push <command> …`: the installed package's one executable (package.json `bin`,
 * built into dist-cli/ by scripts/build-cli.ts). Each command answers `--help` and `--version`.
 */

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
