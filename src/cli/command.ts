import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { type ParseArgsConfig, parseArgs } from "node:util";
import packageJson from "../../package.json";
import { ScanOnPushError } from "../errors";

/**
 * What every command of this project answers the same way: `-h`/`--help` (its options, the
 * variables it reads, its exit statuses) and `--version`.
 */

export const VERSION: string = packageJson.version;

/** A command line this command cannot take: said with its help, exit 2. */
export class UsageError extends ScanOnPushError {}

/**
 * Node's own parser (`--name value`, `--name=value`, positionals), its errors said in this
 * project's words: `unknown option --x`, `--x needs a value`.
 */
export function parseCommandLine<T extends NonNullable<ParseArgsConfig["options"]>>(
  args: string[],
  options: T,
) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    const name = /'(--?[^' <]+)/.exec(message)?.[1] ?? "";
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") throw new UsageError(`unknown option ${name}`);
    if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
      throw new UsageError(
        /does not take/.test(message) ? `${name} takes no value` : `${name} needs a value`,
      );
    }
    throw error;
  }
}
export const PRODUCT = "swr-scan-on-push";

/** One option of a command, declared once: its parsing, its check of form, and its help line. */
export interface FlagSpec {
  type: "boolean" | "string";
  short?: string;
  /** The value's name in the help (`<file>`), for a string option. */
  value?: string;
  help: string;
  default?: string | boolean | string[];
  multiple?: boolean;
  /** Taken, not listed in the help (another spelling of a listed option). */
  hidden?: boolean;
}

/** A command as declared: its help, its options and their parsing come from this one object. */
export interface CommandSpec<F extends Record<string, FlagSpec> = Record<string, FlagSpec>>
  extends Omit<CommandHelp, "options"> {
  /** The operands (positional arguments), as [how written, what it is]. */
  operands?: Array<[string, string]>;
  flags: F;
}

/** Declares a command (the flags' literal types kept, for the parsed values' types). */
export function defineCommand<F extends Record<string, FlagSpec>>(
  spec: CommandSpec<F>,
): CommandSpec<F> {
  return spec;
}

/** The help of a declared command: its operands, every listed option, then help and version. */
export function helpOf(spec: CommandSpec): CommandHelp {
  const { operands = [], flags, ...rest } = spec;
  const listed = Object.entries(flags)
    .filter(([, flag]) => !flag.hidden)
    .map(([name, flag]): [string, string] => [
      `${flag.short ? `-${flag.short}, ` : ""}--${name}${flag.value ? ` ${flag.value}` : ""}`,
      flag.help,
    ]);
  return {
    ...rest,
    options: [...operands, ...listed, ["-h, --help", "this help"], ["--version", "the version"]],
  };
}

/** The command line parsed by the command's declared options (UsageError for anything else). */
export function parseCommand<F extends Record<string, FlagSpec>>(
  spec: CommandSpec<F>,
  args: string[],
) {
  return parseCommandLine(args, spec.flags);
}

/** A parsed command line, as `parseCommand` gives it. */
export type ParsedLine<F extends Record<string, FlagSpec>> = ReturnType<typeof parseCommand<F>>;

/**
 * A command's line read through its declaration: `--help` and `--version` answered (exit 0), a
 * usage error said with the help (exit 2), else what `read` makes of the parsed line (it may
 * throw UsageError for what the parser cannot see: a missing option, an operand too many).
 */
export function readCommandLine<F extends Record<string, FlagSpec>, T>(
  spec: CommandSpec<F>,
  args: string[],
  read: (line: ParsedLine<F>) => T,
  write: (text: string) => void = (text) => process.stderr.write(text),
): { exit: number } | { options: T } {
  if (answeredHelpOrVersion(args, helpOf(spec))) return { exit: 0 };
  try {
    return { options: read(parseCommand(spec, args)) };
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    write(`${error.message}\n\n${helpText(helpOf(spec))}`);
    return { exit: 2 };
  }
}

/** The operands a command that takes none was given: a UsageError naming them. */
export function noOperands(positionals: readonly string[]): void {
  if (positionals.length > 0) throw new UsageError(`unexpected ${positionals.join(" ")}`);
}

export interface CommandHelp {
  /** As typed: `swr-scan-on-push scan` (or `npm run scan --`). */
  name: string;
  summary: string;
  usage: string;
  options?: Array<[string, string]>;
  /** The environment variables the command reads, and what for. */
  variables?: Array<[string, string]>;
  exits: Array<[number, string]>;
  /** A few lines at the end: examples, where to read more. */
  more?: string;
}

function columns(rows: Array<[string, string]>): string {
  const width = Math.min(28, Math.max(...rows.map(([left]) => left.length)));
  return rows
    .map(([left, right]) =>
      left.length > width
        ? `  ${left}\n  ${" ".repeat(width)}  ${right}`
        : `  ${left.padEnd(width)}  ${right}`,
    )
    .join("\n");
}

export function helpText(help: CommandHelp): string {
  const parts = [`${help.name}: ${help.summary}`, "", `usage: ${help.usage}`];
  if (help.options?.length) parts.push("", "options:", columns(help.options));
  if (help.variables?.length) parts.push("", "environment:", columns(help.variables));
  parts.push(
    "",
    "exit status:",
    columns(help.exits.map(([code, meaning]) => [String(code), meaning])),
  );
  if (help.more) parts.push("", help.more);
  return `${parts.join("\n")}\n`;
}

/**
 * Answers `-h`/`--help` and `--version` (anywhere among the arguments): true when it did, and the
 * command should end with 0.
 */
export function answeredHelpOrVersion(
  args: readonly string[],
  help: CommandHelp,
  write: (text: string) => void = (text) => process.stdout.write(text),
): boolean {
  if (args.includes("-h") || args.includes("--help")) {
    write(helpText(help));
    return true;
  }
  if (args.includes("--version")) {
    write(`${PRODUCT} ${VERSION}\n`);
    return true;
  }
  return false;
}

/** The variables every command that calls HSS reads. */
export const HSS_VARIABLES: Array<[string, string]> = [
  ["HSS_REGION", "region of HSS, e.g. cn-north-4 (or HSS_ENDPOINT)"],
  ["HSS_PROJECT_ID", "project id of that region"],
  ["CLOUD_SDK_AK, CLOUD_SDK_SK", "access key of an IAM user with HSS permissions"],
  ["HSS_CALLS_PER_MINUTE", "calls of each HSS API a minute (4)"],
];

/**
 * A file of this package (`events/harbor-push.json`), wherever the command runs from: the
 * sources in a clone, or the bundle of an installed package.
 */
export function packageFile(...parts: string[]): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, ...parts))) {
      return join(dir, ...parts);
    }
    if (dirname(dir) === dir) return join(__dirname, "..", "..", ...parts);
  }
}

/**
 * For a command that never calls HSS (queue status, wire): the function's configuration needs an
 * HSS region or endpoint to be whole, so one that is never called stands in when none is set.
 */
export function withoutHss(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return env.HSS_REGION?.trim() || env.HSS_ENDPOINT?.trim()
    ? env
    : { ...env, HSS_ENDPOINT: "https://hss.not-called.invalid" };
}
