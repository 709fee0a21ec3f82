import { describe, expect, it } from "vitest";
import { alertKey, facts, headline, withoutAccepted } from "../../../src/notify/alert";
import { sampleAlert } from "../../support/alerts";

/** The alerts about images already pushed: how each reads, and what makes two the same. */

describe("the kinds of alert", () => {
  const base = sampleAlert({ namespace: "team", repository: "api", tags: ["1.4"] });

  it("says what a rescan found new, and keys it by those ids", () => {
    const fresh = {
      ...base,
      event: "new_vulnerabilities" as const,
      severity: "High",
      vul_num: 1,
      vulnerabilities: [{ id: "CVE-9", severity: "High" as const }],
    };
    expect(headline(fresh)).toBe("High: 1 new vulnerability in team/api:1.4");
    const other = { ...fresh, vulnerabilities: [{ id: "CVE-8", severity: "High" as const }] };
    expect(alertKey("r", "c", fresh)).not.toBe(alertKey("r", "c", other));
    expect(alertKey("r", "c", fresh)).toBe(alertKey("r", "c", { ...fresh, tags: ["1.5"] }));
  });

  it("names an exception about to end, its owner and reason", () => {
    const ending = {
      ...base,
      event: "exception_ending" as const,
      exception: { id: "CVE-7", until: "2026-12-10", owner: "team-api", reason: "not reachable" },
    };
    expect(headline(ending)).toBe("Exception ending 2026-12-10: CVE-7 in team/api:1.4");
    expect(facts(ending).slice(0, 2)).toEqual([
      ["Exception", "CVE-7 accepted until 2026-12-10: not reachable"],
      ["Owner", "team-api"],
    ]);
  });

  it("leaves out what the exceptions file accepts, and drops an alert with nothing else", () => {
    const listed = {
      ...base,
      severity: "High",
      vul_num: 2,
      malicious_file_num: 0,
      unsafe_setting_num: 0,
      vulnerabilities: [
        { id: "CVE-1", severity: "High" as const, package: "openssl" },
        { id: "CVE-2", severity: "Medium" as const, package: "zlib" },
      ],
    };
    const rest = withoutAccepted(listed, (id) => id === "CVE-1");
    expect(rest).toMatchObject({
      vul_num: 1,
      excepted: 1,
      severity: "Medium",
      counts: { Medium: 1 },
      vulnerabilities: [{ id: "CVE-2" }],
    });
    expect(withoutAccepted(listed, () => true)).toBeUndefined();
    expect(withoutAccepted(listed, () => false)).toBe(listed);
  });
});
