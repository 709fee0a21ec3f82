import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import type { PushedImage } from "../../src/formats/registry-event";
import { planPushScans } from "../../src/scan-plan";
import { splitPatterns } from "../../src/scan-policy";

const DIGEST = "3f1e0c9a4b7d2e5f8a1c6b9d0e3f7a2b5c8d1e4f7a0b3c6d9e2f5a8b1c4d7e0f";

/** Plans a push of these `namespace/repository:tag` references with a policy from variables. */
function pick(env: Record<string, string>, references: string[]) {
  const config = loadConfig({ HSS_REGION: "cn-north-4", SWR_INSTANCE_ID: "inst", ...env });
  const images: PushedImage[] = references.map((reference) => {
    const [repository = "", tag] = reference.split(":");
    return { namespace: repository.split("/")[0] ?? "", repository, tag };
  });
  const plan = planPushScans(images, { swr: config.swr, policy: config.policy });
  return {
    scanned: plan.targets.map((t) => `${t.namespace}/${t.image_name}:${t.image_version}`),
    skipped: Object.fromEntries(plan.skipped.map((s) => [s.image, `${s.rule}: ${s.reason}`])),
  };
}

describe("scan policy", () => {
  it("scans everything except signature artifacts by default", () => {
    const result = pick({}, [
      "team/api:1.0",
      `team/api:sha256-${DIGEST}.sig`,
      `team/api:sha256-${DIGEST}.att`,
      `team/api:sha256-${DIGEST}.sbom`,
    ]);
    expect(result.scanned).toEqual(["team/api:1.0"]);
    expect(Object.values(result.skipped)).toEqual([
      expect.stringMatching(/^signature-artifact: .*signature, attestation or SBOM/),
      expect.stringMatching(/^signature-artifact: /),
      expect.stringMatching(/^signature-artifact: /),
    ]);
  });

  it("scans signature artifacts when SCAN_SKIP_SIGNATURES=false", () => {
    expect(
      pick({ SCAN_SKIP_SIGNATURES: "false" }, [`team/api:sha256-${DIGEST}.sig`]).scanned,
    ).toHaveLength(1);
  });

  it("matches repositories within their namespace, with * inside one segment and ** across", () => {
    const result = pick({ SCAN_INCLUDE_REPOSITORIES: "backend/*" }, [
      "team/backend/api:1",
      "team/backend/api/v2:1",
      "team/frontend/web:1",
    ]);
    expect(result.scanned).toEqual(["team/backend/api:1"]);
    expect(result.skipped["team/backend/api/v2:1"]).toBe(
      'include.repositories: repository "backend/api/v2" matches none of SCAN_INCLUDE_REPOSITORIES (backend/*)',
    );
    expect(
      pick({ SCAN_INCLUDE_REPOSITORIES: "backend/**" }, ["team/backend/api/v2:1"]).scanned,
    ).toHaveLength(1);
  });

  it("reads braces as alternatives, not as list separators", () => {
    expect(splitPatterns("v{1,2}.*, release-*")).toEqual(["v{1,2}.*", "release-*"]);
    const result = pick({ SCAN_INCLUDE_TAGS: "v{1,2}.*, release-?" }, [
      "team/api:v1.0",
      "team/api:v2.3",
      "team/api:v3.0",
      "team/api:release-7",
      "team/api:release-10",
    ]);
    expect(result.scanned).toEqual(["team/api:v1.0", "team/api:v2.3", "team/api:release-7"]);
  });

  it("lets exclusion win over inclusion, naming the pattern", () => {
    const result = pick(
      { SCAN_INCLUDE_NAMESPACES: "team-*", SCAN_EXCLUDE_TAGS: "*-dev,*-snapshot" },
      ["team-a/api:1.0", "team-a/api:1.1-dev", "other/api:1.0"],
    );
    expect(result.scanned).toEqual(["team-a/api:1.0"]);
    expect(result.skipped).toEqual({
      "team-a/api:1.1-dev":
        'exclude.tags: tag "1.1-dev" is excluded by SCAN_EXCLUDE_TAGS pattern "*-dev"',
      "other/api:1.0":
        'include.namespaces: namespace "other" matches none of SCAN_INCLUDE_NAMESPACES (team-*)',
    });
  });

  it("reads the same rules from one JSON policy, naming its paths", () => {
    const policy = JSON.stringify({
      include: { repositories: ["**/api", "tools/**"] },
      exclude: { namespaces: ["sandbox"], tags: ["latest"] },
    });
    const result = pick({ SCAN_POLICY: policy }, [
      "team/backend/api:2.0",
      "team/tools/kubectl/plugins:1",
      "team/web:1",
      "sandbox/api:1",
      "team/api:latest",
    ]);
    expect(result.scanned).toEqual(["team/backend/api:2.0", "team/tools/kubectl/plugins:1"]);
    expect(result.skipped).toEqual({
      "team/web:1":
        'include.repositories: repository "web" matches none of SCAN_POLICY include.repositories (**/api, tools/**)',
      "sandbox/api:1":
        'exclude.namespaces: namespace "sandbox" is excluded by SCAN_POLICY exclude.namespaces pattern "sandbox"',
      "team/api:latest":
        'exclude.tags: tag "latest" is excluded by SCAN_POLICY exclude.tags pattern "latest"',
    });
  });

  it("reads a pattern that starts with a bracket as a pattern, not as JSON", () => {
    expect(
      pick({ SCAN_INCLUDE_TAGS: "[0-9]*" }, ["t/api:1.0", "t/api:latest", "t/api:20"]).scanned,
    ).toEqual(["t/api:1.0", "t/api:20"]);
  });

  it("accepts a JSON array in a pattern variable", () => {
    expect(
      pick({ SCAN_EXCLUDE_TAGS: '["*,*", "a{b,c}"]' }, ["t/api:x,y", "t/api:ab", "t/api:ok"])
        .scanned,
    ).toEqual(["t/api:ok"]);
  });

  it.each([
    [{ SCAN_POLICY: "{", SCAN_EXCLUDE_TAGS: "" }, /SCAN_POLICY: must be a JSON object/],
    [{ SCAN_POLICY: '{"exclude":{"tag":["x"]}}' }, /SCAN_POLICY at exclude: .*tag/],
    [
      { SCAN_POLICY: "{}", SCAN_EXCLUDE_TAGS: "x" },
      /use either SCAN_POLICY or the SCAN_INCLUDE_\*\/SCAN_EXCLUDE_\* variables.*SCAN_EXCLUDE_TAGS/,
    ],
    [{ SCAN_EXCLUDE_TAGS: "[1]" }, /SCAN_EXCLUDE_TAGS: must be a JSON array of strings/],
    [{ SCAN_INCLUDE_TAGS: "v{1,2" }, /SCAN_INCLUDE_TAGS: pattern "v\{1,2" has an unclosed "\{"/],
    [
      { SCAN_EXCLUDE_REPOSITORIES: "a},b" },
      /SCAN_EXCLUDE_REPOSITORIES: pattern "a}" has an unmatched/,
    ],
    [{ SCAN_INCLUDE_TAGS: "v[1-" }, /SCAN_INCLUDE_TAGS: pattern "v\[1-" has an unclosed "\["/],
    [{ SCAN_POLICY: '{"include":{"tags":["v{1"]}}' }, /SCAN_POLICY at include.tags.0: .*unclosed/],
    [{ SCAN_SKIP_SIGNATURES: "maybe" }, /SCAN_SKIP_SIGNATURES/],
  ])("refuses an invalid policy at start: %j", (env, message) => {
    expect(() => loadConfig({ HSS_REGION: "cn-north-4", ...env })).toThrow(message);
  });
});
