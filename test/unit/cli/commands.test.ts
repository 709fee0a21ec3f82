import { describe, expect, it } from "vitest";
import { CHECK_DEPLOY_COMMAND } from "../../../src/cli/check-deploy";
import {
  type CommandSpec,
  helpOf,
  helpText,
  parseCommand,
  UsageError,
} from "../../../src/cli/command";
import { NOTIFY_COMMAND } from "../../../src/cli/notify";
import { QUEUE_COMMAND } from "../../../src/cli/queue";
import { RESCAN_COMMAND } from "../../../src/cli/rescan";
import { parseArgs, SCAN_COMMAND } from "../../../src/cli/scan-args";
import { WIRE_COMMAND } from "../../../src/cli/wire";
import { FORMATS, REPORT_WRITERS } from "../../../src/cli/writers";
import { INVOKE_COMMAND } from "../../../src/runners/invoke";
import { START_COMMAND } from "../../../src/runners/server";

/** Each command declares its options once: parsing, checking and `--help` all come from that. */

const COMMANDS: Array<[string, CommandSpec]> = [
  ["scan", SCAN_COMMAND],
  ["queue", QUEUE_COMMAND],
  ["check-deploy", CHECK_DEPLOY_COMMAND],
  ["wire", WIRE_COMMAND],
  ["notify", NOTIFY_COMMAND],
  ["rescan", RESCAN_COMMAND],
  ["invoke", INVOKE_COMMAND],
  ["start", START_COMMAND],
];

describe.each(COMMANDS)("the %s command's declaration", (_, spec) => {
  it("lists every option it takes in its help, with the value it needs", () => {
    const help = helpText(helpOf(spec));
    const listed = Object.entries(spec.flags).filter(([, flag]) => !flag.hidden);
    for (const [name, flag] of listed) {
      expect(help, `--${name}`).toContain(`--${name}${flag.value ? ` ${flag.value}` : ""}`);
      expect(help, `--${name}`).toContain(flag.help.slice(0, 30));
    }
    expect(help).toContain("-h, --help");
    expect(help).toContain("--version");
  });

  it("takes every declared option, and refuses an undeclared one by name", () => {
    for (const [name, flag] of Object.entries(spec.flags)) {
      const args = flag.type === "string" ? [`--${name}`, "x"] : [`--${name}`];
      expect(() => parseCommand(spec, args), `--${name}`).not.toThrow();
    }
    expect(() => parseCommand(spec, ["--no-such-option"])).toThrow(
      new UsageError("unknown option --no-such-option"),
    );
  });
});

describe("scan's options", () => {
  it("take every registered report format, and list them in the help and in the refusal", () => {
    for (const format of FORMATS) {
      expect(parseArgs(["swr.example.com/team/api:1", "--format", format]).format).toBe(format);
    }
    const help = helpText(helpOf(SCAN_COMMAND));
    for (const format of FORMATS) expect(help).toContain(REPORT_WRITERS[format].help);
    expect(() => parseArgs(["swr.example.com/team/api:1", "--format", "html"])).toThrow(
      `--format takes ${FORMATS.join(", ")} (got html)`,
    );
  });

  it("keep --json and --vulns as other spellings of --format json and --vulnerabilities", () => {
    const options = parseArgs(["swr.example.com/team/api:1", "--json", "--vulns"]);
    expect(options).toMatchObject({ format: "json", vulnerabilities: true });
    expect(helpText(helpOf(SCAN_COMMAND))).not.toContain("--vulns");
  });
});
