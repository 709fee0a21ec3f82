import { DEFAULT_IGNORE_FILE } from "../images/ignore-file";
import type { MinSeverity } from "../notify/alert";
import { defineCommand, HSS_VARIABLES, type ParsedLine, parseCommand, UsageError } from "./command";
import { EXIT } from "./scan-output";
import { FORMATS, type Format, REPORT_WRITERS } from "./writers";

/** The options of `scan`, and its help. */

export type { Format };

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

export const SCAN_COMMAND = defineCommand({
  name: "swr-scan-on-push scan",
  summary:
    "asks HSS to scan images pushed to SWR and, with --wait, fails the build on what it finds",
  usage:
    "swr-scan-on-push scan <image reference>… [options]   (in a clone: npm run --silent scan -- …)",
  operands: [
    [
      "<image reference>",
      "host/namespace/repository:tag on an SWR Enterprise or SWR basic registry",
    ],
  ],
  flags: {
    wait: { type: "boolean", help: "wait until HSS reports a result for every image" },
    "fail-on": {
      type: "string",
      value: "<severity>",
      help: "exit 1 for findings at or above critical | high | medium | low (any case); HSS has no separate critical level: critical is HSS's High, the same as high",
    },
    "only-fixed": {
      type: "boolean",
      help: "findings HSS knows no fix for do not fail the build",
    },
    "ignore-file": {
      type: "string",
      value: "<file>",
      help: `accepted findings, one per line: <id> [image=<glob>] [until=YYYY-MM-DD] # reason (default ${DEFAULT_IGNORE_FILE} when it exists)`,
    },
    format: {
      type: "string",
      value: "<format>",
      help: FORMATS.map((name) => `${name} (${REPORT_WRITERS[name].help})`).join(" | "),
    },
    json: { type: "boolean", help: "the same as --format json" },
    output: {
      type: "string",
      value: "<file>",
      help: "write the report there, checked before anything is asked of HSS (the table still goes to stdout when the format is not table)",
    },
    vulnerabilities: {
      type: "boolean",
      help: "list each image's vulnerabilities (id, severity, package, version, fix)",
    },
    vulns: { type: "boolean", hidden: true, help: "the same as --vulnerabilities" },
    timeout: {
      type: "string",
      default: "15m",
      value: "<duration>",
      help: "give up waiting after this long (default 15m; e.g. 90s, 10m, 1h)",
    },
    poll: {
      type: "string",
      default: "5s",
      value: "<duration>",
      help: "check HSS at most this often (default 5s; never faster than the budget)",
    },
    "instance-id": {
      type: "string",
      value: "<id>",
      help: "the SWR Enterprise instance of every reference",
    },
  },
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
    [
      EXIT.unreachable,
      "HSS could not be reached, is not what answers, or did not answer 3 calls in a row (ends within 30 s, with a hint)",
    ],
    [EXIT.interrupted, "interrupted (Ctrl-C): what was known is printed"],
  ],
  more: 'in CI: swr-scan-on-push scan "$IMAGE" --wait --fail-on high --format sarif --output hss.sarif\nmore: docs/ci-gate.md',
});

export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new UsageError(`not a duration: ${text} (use e.g. 90s, 15m, 1h)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? "s"] ?? 1000;
  return Math.round(Number(match[1]) * unit);
}

/** HSS's levels are High, Medium, Low (and Security): critical is High. */
function severityOf(text: string): MinSeverity {
  const severity = text.toLowerCase();
  if (severity === "critical" || severity === "high" || severity === "medium" || severity === "low")
    return severity;
  throw new UsageError(
    `--fail-on takes critical, high, medium or low (got ${text}); HSS's critical is its High`,
  );
}

export function parseArgs(args: string[]): Options {
  return optionsOf(parseCommand(SCAN_COMMAND, args));
}

/** The options of a parsed command line; UsageError for what the parser cannot see. */
export function optionsOf({ values, positionals }: ParsedLine<typeof SCAN_COMMAND.flags>): Options {
  const format = values.format ?? (values.json ? "json" : "table");
  if (!(FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(`--format takes ${FORMATS.join(", ")} (got ${format})`);
  }
  const options: Options = {
    references: positionals,
    wait: values.wait ?? false,
    timeoutMs: parseDuration(values.timeout),
    pollMs: Math.max(1000, parseDuration(values.poll)),
    vulnerabilities: (values.vulnerabilities ?? false) || (values.vulns ?? false),
    format: format as Format,
    onlyFixed: values["only-fixed"] ?? false,
    ...(values["fail-on"] !== undefined ? { failOn: severityOf(values["fail-on"]) } : {}),
    ...(values["instance-id"] !== undefined ? { instanceId: values["instance-id"] } : {}),
    ...(values.output !== undefined ? { output: values.output } : {}),
    ...(values["ignore-file"] !== undefined ? { ignoreFile: values["ignore-file"] } : {}),
  };
  if (options.references.length === 0) throw new UsageError("no image reference given");
  if (options.failOn && !options.wait) throw new UsageError("--fail-on needs --wait");
  return options;
}
