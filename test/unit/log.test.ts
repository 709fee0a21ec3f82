import { describe, expect, it } from "vitest";
import { createLogger, REDACTED, secretScrubber } from "../../src/log";

describe("structured log", () => {
  const capture = (options: Partial<Parameters<typeof createLogger>[0]> = {}) => {
    const lines: string[] = [];
    const log = createLogger({
      level: "info",
      requestId: "req-1",
      write: (line) => lines.push(line),
      ...options,
    });
    return { log, lines };
  };

  it("writes one JSON line per decision with the invocation's request id", () => {
    const { log, lines } = capture();
    log.info("skipped", { image: "a/b:1", reason: "digest" });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({
      level: "info",
      event: "skipped",
      request_id: "req-1",
      image: "a/b:1",
      reason: "digest",
    });
  });

  it("drops lines below the configured level", () => {
    const { log, lines } = capture({ level: "warn" });
    log.info("received");
    log.warn("rejected");
    expect(lines.map((line) => JSON.parse(line).event)).toEqual(["rejected"]);
  });

  it("redacts fields named after credentials and known secret values anywhere", () => {
    const { log, lines } = capture({ secrets: ["sk-value-123", 'quo"te-secret'] });
    log.error("failed", {
      headers: { Authorization: "SDK-HMAC-SHA256 Access=x", "X-Security-Token": "t" },
      error_msg: 'echoed sk-value-123 and quo"te-secret back',
    });
    const line = lines[0] as string;
    expect(line).not.toContain("sk-value-123");
    expect(line).not.toContain('quo\\"te-secret');
    expect(line).not.toContain("Access=x");
    expect(JSON.parse(line).headers).toEqual({
      Authorization: REDACTED,
      "X-Security-Token": REDACTED,
    });
  });

  it("scrubs longer secrets first so that overlapping ones leave nothing behind", () => {
    expect(secretScrubber(["abcd", "abcdef"])("xabcdefx")).toBe(`x${REDACTED}x`);
  });
});
