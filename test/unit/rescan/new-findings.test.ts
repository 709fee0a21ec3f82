import { describe, expect, it } from "vitest";
import type { HssApiClient, Vulnerability } from "../../../src/hss/apis";
import { MemoryCallBudget } from "../../../src/hss/call-budget";
import { Ignores, parseIgnoreFile } from "../../../src/images/ignore-file";
import { createLogger } from "../../../src/log";
import type { Finding } from "../../../src/notify/notifier";
import { MemoryWatchStore } from "../../../src/queue/memory-queue";
import { NewFindings } from "../../../src/rescan/new-findings";

/** What a finished scan found that was not seen before in its digest. */

const NOW = Date.parse("2026-12-03T08:00:00Z");
const finding = (vul_num: number): Finding => ({
  image: "team/api:1",
  image_type: "private_image",
  namespace: "team",
  image_name: "api",
  image_version: "1",
  image_id: "img-1",
  digest: "sha256:one",
  severity_level: vul_num > 0 ? "High" : "Security",
  vul_num,
  malicious_file_num: 0,
  unsafe_setting_num: 0,
});
const vul = (id: string, app = "openssl"): Vulnerability => ({
  vul_id: id,
  app_name: app,
  repair_necessity: "immediate_repair",
});

function setup(ignoreFile = "", today = "2026-12-03", calls = 10) {
  const store = new MemoryWatchStore(() => NOW);
  let listed: Vulnerability[] = [];
  let reads = 0;
  const hss = {
    listImageVulnerabilities: async () => {
      reads += 1;
      return { data_list: listed, received: listed.length, skipped: [] };
    },
  } as unknown as HssApiClient;
  const make = (day = today) =>
    new NewFindings({
      store,
      ignores: new Ignores(parseIgnoreFile(ignoreFile, ".hssignore"), day),
      ttlMs: 30 * 86_400_000,
      budget: new MemoryCallBudget(calls, 60_000, () => NOW),
      hss: async () => hss,
      log: createLogger({ level: "error", write: () => undefined }),
    });
  return {
    make,
    list: (...found: Vulnerability[]) => {
      listed = found;
    },
    reads: () => reads,
  };
}

describe("NewFindings", () => {
  it("takes a push's scan as the baseline, then alerts only ids not seen before in the digest", async () => {
    const { make, list, reads } = setup();
    const judge = make();

    expect(await judge.judge(finding(0), false)).toEqual({ kind: "baseline" });
    expect(reads()).toBe(0);
    list(vul("CVE-1"));
    const first = await judge.judge(finding(1), true);
    list(vul("CVE-1"), vul("CVE-2"));
    const second = await judge.judge(finding(2), true);

    expect(first).toMatchObject({ kind: "new", vulnerabilities: [{ vul_id: "CVE-1" }] });
    expect(second).toMatchObject({ kind: "new", vulnerabilities: [{ vul_id: "CVE-2" }] });
    expect(reads()).toBe(2);
  });

  it("reads nothing and finds nothing new when the count did not change", async () => {
    const { make, list, reads } = setup();
    list(vul("CVE-1"));
    await make().judge(finding(1), false);
    const again = await make().judge(finding(1), true);

    expect(again).toEqual({ kind: "nothing_new", gone: [] });
    expect(reads()).toBe(1);
  });

  it("records what disappeared", async () => {
    const { make, list } = setup();
    list(vul("CVE-1"), vul("CVE-2"));
    await make().judge(finding(2), false);
    list(vul("CVE-2"));

    expect(await make().judge(finding(1), true)).toEqual({ kind: "nothing_new", gone: ["CVE-1"] });
  });

  it("does not alert what the exceptions file accepts, and alerts it once the exception has ended", async () => {
    const file = "CVE-9 package=zlib until=2026-12-05 # accepted for now\n";
    const { make, list, reads } = setup(file);
    await make().judge(finding(0), false);
    list(vul("CVE-9", "zlib"));

    const accepted = await make().judge(finding(1), true);
    // Accepted still: the same count, nothing read again.
    expect(await make().judge(finding(1), true)).toEqual({ kind: "nothing_new", gone: [] });
    expect(reads()).toBe(1);
    const afterEnd = await make("2026-12-06").judge(finding(1), true);

    expect(accepted).toEqual({ kind: "nothing_new", gone: [] });
    expect(afterEnd).toMatchObject({ kind: "new", vulnerabilities: [{ vul_id: "CVE-9" }] });
  });

  it("looks again later when the list API's budget has no slot", async () => {
    const { make, list } = setup("", "2026-12-03", 0);
    list(vul("CVE-1"));
    expect(await make().judge(finding(1), true)).toEqual({
      kind: "later",
      retryAfterMs: expect.any(Number),
    });
  });
});
