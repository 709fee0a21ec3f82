import { ScanOnPushError } from "../errors";
import type { MinSeverity } from "../follow-up/notify";
import { type CommandHelp, HSS_VARIABLES } from "./command";
import { DEFAULT_IGNORE_FILE } from "./ignore-file";
import { EXIT } from "./scan-output";

/** The options of `scan`, and its help. */

export type Format = "table" | "json" | "sarif";

export interface Options {
  references: string[];
  wait: boolean;
  failOn?: MinSeverity;
  timeoutMs: number;
  pollMs: number;
  vulnerabilities: boolean;
  instanceId?: string;
  format: Format;
  output?: string;
  ignoreFile?: string;
  onlyFixed: boolean;
}

export class UsageError extends ScanOnPushError {}

export const SCAN_HELP: CommandHelp = {
  name: "swr-scan-on-push scan",
  summary:
    "asks HSS to scan images pushed to SWR and, with --wait, fails the build on what it finds",
  usage:
    "swr-scan-on-push scan <image reference>… [options]   (in a clone: npm run --silent scan -- …)",
  options: [
    [
      "<image reference>",
      "host/namespace/repository:tag on an SWR Enterprise or SWR basic registry",
    ],
    ["--wait", "wait until HSS reports a result for every image"],
    [
      "--fail-on <severity>",
      "exit 1 for findings at or above critical | high | medium | low (any case); HSS has no separate critical level: critical is HSS's High, the same as high",
    ],
    ["--only-fixed", "findings HSS knows no fix for do not fail the build"],
    [
      "--ignore-file <file>",
      `accepted findings, one per line: <id> [image=<glob>] [until=YYYY-MM-DD] # reason (default ${DEFAULT_IGNORE_FILE} when it exists)`,
    ],
    ["--format <format>", "table (default) | json | sarif (SARIF 2.1.0, for code scanning)"],
    ["--json", "the same as --format json"],
    [
      "--output <file>",
      "write the report there (the table still goes to stdout when the format is json or sarif)",
    ],
    [
      "--vulnerabilities",
      "list each image's vulnerabilities (id, severity, package, version, fix)",
    ],
    ["--timeout <duration>", "give up waiting after this long (default 15m; e.g. 90s, 10m, 1h)"],
    [
      "--poll <duration>",
      "check HSS at most this often (default 5s; never faster than the budget)",
    ],
    ["--instance-id <id>", "the SWR Enterprise instance of every reference"],
    ["-h, --help", "this help"],
    ["--version", "the version"],
  ],
  variables: [
    ...HSS_VARIABLES,
    ["SWR_INSTANCES", 'registry hosts to instance ids, {"<host>": "<instance id>"}'],
    ["SWR_INSTANCE_ID", "the instance of every SWR Enterprise reference"],
    ["SCAN_QUEUE", "the function's Redis: share its call budget (optional)"],
    ["(none of HSS_*)", "the embedded HSS emulator answers, on this machine only"],
  ],
  exits: [
    [
      EXIT.clean,
      "every image scanned, nothing counted at or above --fail-on (without --wait: every image submitted)",
    ],
    [EXIT.findings, "findings at or above --fail-on (decided before failures)"],
    [EXIT.usage, "usage or configuration error"],
    [EXIT.failed, "a scan failed, or no result came within --timeout"],
    [EXIT.refused, "HSS refused the credentials or a permission (ends at once, with a hint)"],
    [EXIT.unreachable, "HSS could not be reached (ends at once, with a hint)"],
    [EXIT.interrupted, "interrupted (Ctrl-C): what was known is printed"],
  ],
  more: 'in CI: swr-scan-on-push scan "$IMAGE" --wait --fail-on high --format sarif --output hss.sarif\nmore: docs/ci-gate.md',
};

export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new UsageError(`not a duration: ${text} (use e.g. 90s, 15m, 1h)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? "s"] ?? 1000;
  return Math.round(Number(match[1]) * unit);
}

/** HSS's levels are High, Medium, Low (and Security): critical is High. */
function severityOf(text: string): MinSeverity {
  const severity = text.toLowerCase();
  if (severity === "critical") return "high";
  if (severity === "high" || severity === "medium" || severity === "low") return severity;
  throw new UsageError(
    `--fail-on takes critical, high, medium or low (got ${text}); HSS's critical is its High`,
  );
}

const FLAGS: Record<string, (options: Options) => void> = {
  "--wait": (options) => {
    options.wait = true;
  },
  "--json": (options) => {
    options.format = "json";
  },
  "--vulnerabilities": (options) => {
    options.vulnerabilities = true;
  },
  "--vulns": (options) => {
    options.vulnerabilities = true;
  },
  "--only-fixed": (options) => {
    options.onlyFixed = true;
  },
};

const VALUED: Record<string, (options: Options, value: string) => void> = {
  "--fail-on": (options, value) => {
    options.failOn = severityOf(value);
  },
  "--timeout": (options, value) => {
    options.timeoutMs = parseDuration(value);
  },
  "--poll": (options, value) => {
    options.pollMs = Math.max(1000, parseDuration(value));
  },
  "--instance-id": (options, value) => {
    options.instanceId = value;
  },
  "--output": (options, value) => {
    options.output = value;
  },
  "--ignore-file": (options, value) => {
    options.ignoreFile = value;
  },
  "--format": (options, value) => {
    if (value !== "table" && value !== "json" && value !== "sarif") {
      throw new UsageError(`--format takes table, json or sarif (got ${value})`);
    }
    options.format = value;
  },
};

export function parseArgs(args: string[]): Options {
  const options: Options = {
    references: [],
    wait: false,
    timeoutMs: 15 * 60_000,
    pollMs: 5000,
    vulnerabilities: false,
    format: "table",
    onlyFixed: false,
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const [name = arg, inline] = arg.startsWith("--") ? arg.split(/=(.*)/s, 2) : [arg];
    const flag = FLAGS[name];
    const valued = VALUED[name];
    if (flag && inline === undefined) flag(options);
    else if (valued) {
      const value = inline ?? args[++i];
      if (value === undefined || value.startsWith("--"))
        throw new UsageError(`${name} needs a value`);
      valued(options, value);
    } else if (arg.startsWith("-")) throw new UsageError(`unknown option ${arg}`);
    else options.references.push(arg);
  }
  if (options.references.length === 0) throw new UsageError("no image reference given");
  if (options.failOn && !options.wait) throw new UsageError("--fail-on needs --wait");
  return options;
}
