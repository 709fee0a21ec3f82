import { describe, expect, it } from "vitest";
import { helpOf, helpText, parseCommand, UsageError } from "../../../src/cli/command";
import { COMMANDS } from "../../../src/cli/commands";
import { parseArgs, SCAN_COMMAND } from "../../../src/cli/scan-args";
import { FORMATS, REPORT_WRITERS } from "../../../src/cli/writers";

/** Each command declares its options once: parsing, checking and `--help` all come from that. */

describe("the command table", () => {
  it("names each command once, and each declares itself under its own name", () => {
    const names = COMMANDS.map(({ name }) => name);
    expect(new Set(names).size).toBe(names.length);
    for (const { name, spec, synopsis } of COMMANDS) {
      expect(spec.name, name).toBe(`swr-scan-on-push ${name}`);
      expect(synopsis.split(" ")[0], name).toBe(name);
    }
  });
});

describe.each(COMMANDS.map(({ name, spec }) => [name, spec] as const))(
  "the %s command's declaration",
  (_, spec) => {
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
  },
);

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
