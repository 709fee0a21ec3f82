import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { SourceMap } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildBundle, REPLACED_MODULES } from "../../scripts/build";
import debug from "../../scripts/bundle-stubs/debug";
import { sortBy } from "../../scripts/bundle-stubs/lodash";
import moment from "../../scripts/bundle-stubs/moment";
import { connect, lookup } from "../../scripts/bundle-stubs/on-first-use";
import { codeCacheStillFits } from "../../scripts/code-cache";
import { BUNDLE_FILE, BUNDLE_HEAD, BUNDLE_TAIL, CODE_CACHE_FILE } from "../../src/bundle-files";
import { ROOT } from "../support/local-tool";

describe("the bundle", () => {
  it("fails to build when a replacement no longer matches anything", async () => {
    // Prepare: a replacement whose module a dependency upgrade would have renamed
    REPLACED_MODULES.push({
      request: /^renamed-internal-module$/,
      importer: /./,
      file: REPLACED_MODULES[0]?.file ?? "",
      why: "a stand-in for a module that is gone",
    });
    try {
      // Act and assess
      await expect(buildBundle(mkdtempSync(join(tmpdir(), "bundle-")))).rejects.toThrow(
        /no longer apply.*renamed-internal-module.*a stand-in for a module that is gone/,
      );
    } finally {
      REPLACED_MODULES.pop();
    }
  });

  it("leaves out what the function never runs", async () => {
    // Act
    const result = await buildBundle(mkdtempSync(join(tmpdir(), "bundle-")));

    // Assess
    const packagesOf = (file: string) => {
      const output = Object.entries(result.metafile.outputs).find(([name]) =>
        name.endsWith(`/${file}`),
      )?.[1];
      return new Set(
        Object.keys(output?.inputs ?? {})
          .map((input) => /node_modules\/((@[^/]+\/)?[^/]+)\//.exec(input)?.[1])
          .filter((name): name is string => name !== undefined),
      );
    };
    const packages = packagesOf(BUNDLE_FILE);
    for (const unused of [
      "log4js",
      "form-data",
      "mime-db",
      "https-proxy-agent",
      "lodash",
      "moment",
      "follow-redirects",
      "uuid",
      "axios",
    ]) {
      expect(packages, unused).not.toContain(unused);
    }
    expect([...packages].sort()).toEqual([
      "@huaweicloud/huaweicloud-sdk-core",
      "@middy/core",
      "picomatch",
    ]);
    // zod is in its own file, loaded when a schema is first built (a push read by hand builds none).
    expect([...packagesOf("zod.js")]).toEqual(["zod"]);
    // The Redis client is in its own file, loaded only when SCAN_QUEUE names a Redis server.
    expect(packagesOf("redis-queue.js")).toContain("ioredis");
    // ioredis's diagnostics would print a password with DEBUG set (scripts/bundle-stubs/debug.ts).
    expect(packagesOf("redis-queue.js")).not.toContain("debug");
    expect(packagesOf("redis-queue.js")).not.toContain("@huaweicloud/huaweicloud-sdk-core");
    expect(REPLACED_MODULES.filter((replacement) => replacement.why.length === 0)).toEqual([]);
  });
});

const assertOnFirstUse = require("../../scripts/bundle-stubs/assert-on-first-use.cjs") as {
  (value: unknown): void;
  strictEqual(actual: unknown, expected: unknown): void;
};

// The originals, as the SDK core (which depends on them) loads them outside the bundle.
const lodash = require("lodash") as { sortBy<T>(items: T[], by: (item: T) => string): T[] };
const realMoment = require("moment") as (input?: unknown) => {
  utcOffset(offset: number): { format(pattern: string): string };
};

describe("stand-ins used in the bundle", () => {
  it("sorts header names exactly as lodash's sortBy does", () => {
    const headers = [
      "X-Sdk-Date",
      "host",
      "content-type",
      "x-project-id",
      "region",
      "X-Security-Token",
      "Host",
    ];
    const byLowerCase = (name: string) => name.toLocaleLowerCase();
    expect(sortBy(headers, byLowerCase)).toEqual(lodash.sortBy(headers, byLowerCase));
  });

  it("formats the signing time exactly as moment does", () => {
    for (const input of [
      undefined,
      "2019-11-15T03:36:55Z",
      0,
      new Date(Date.UTC(2026, 10, 27, 23, 59, 59)),
    ]) {
      const expected = realMoment(input).utcOffset(0).format("YYYYMMDDTHHmmss");
      const actual = moment(input).utcOffset(0).format("YYYYMMDDTHHmmss");
      if (input === undefined) expect(actual.slice(0, 11)).toBe(expected.slice(0, 11));
      else expect(actual).toBe(expected);
    }
  });

  it("refuses formats it does not implement", () => {
    expect(() => moment().utcOffset(0).format("YYYY-MM-DD")).toThrow(/cannot format/);
  });

  it("keeps ioredis's diagnostics off, DEBUG or not", () => {
    const written: string[] = [];
    const debugger_ = debug("ioredis:redis");
    debugger_.log = (...args) => written.push(args.map(String).join(" "));
    process.env.DEBUG = "ioredis:*";
    try {
      debugger_("write command[%s]: %d -> %s(%o)", "127.0.0.1:6379", 0, "auth", ["pa55word"]);
    } finally {
      delete process.env.DEBUG;
    }
    expect(debugger_.enabled).toBe(false);
    expect(written).toEqual([]);
  });

  it("loads tls, dns and assert when first called, and calls them as they are", async () => {
    expect(
      await new Promise((resolve) => lookup("127.0.0.1", (_, address) => resolve(address))),
    ).toBe("127.0.0.1");
    expect(typeof connect).toBe("function");
    expect(() => assertOnFirstUse.strictEqual(typeof 1, "string")).toThrow(/strictly equal/);
    expect(() => assertOnFirstUse(0)).toThrow();
    expect(() => assertOnFirstUse(1)).not.toThrow();
  });
});

describe("the built file", () => {
  const dist = join(ROOT, "dist");

  it("is the function index.js compiles, and its source map still points at the sources", () => {
    // Prepare
    const code = readFileSync(join(dist, BUNDLE_FILE), "utf8");
    const map = new SourceMap(JSON.parse(readFileSync(join(dist, `${BUNDLE_FILE}.map`), "utf8")));
    const at = code.indexOf("scan_api_retired:");
    const before = code.slice(0, at);

    // Act
    const entry = map.findEntry(before.split("\n").length - 1, at - before.lastIndexOf("\n") - 1);

    // Assess
    expect(code.startsWith(BUNDLE_HEAD) && code.endsWith(BUNDLE_TAIL)).toBe(true);
    expect("originalSource" in entry && entry.originalSource).toMatch(/src\/send-scan\.ts$/);
    const line = "originalLine" in entry ? entry.originalLine : -1;
    expect(readFileSync(join(ROOT, "src", "send-scan.ts"), "utf8").split("\n")[line]).toContain(
      "scan_api_retired:",
    );
  });
});

describe("the code cache of a rebuild", () => {
  const dist = join(ROOT, "dist");
  const copy = () => {
    const folder = mkdtempSync(join(tmpdir(), "cache-"));
    for (const file of [BUNDLE_FILE, CODE_CACHE_FILE]) {
      writeFileSync(join(folder, file), readFileSync(join(dist, file)));
    }
    return folder;
  };

  it("is kept while it fits the bundle, so that unchanged code packages to the same zip", () => {
    expect(codeCacheStillFits(copy())).toBe(true);
  });

  it("is made again for another bundle, or when V8 refuses it", () => {
    // Prepare
    const otherBundle = copy();
    writeFileSync(
      join(otherBundle, BUNDLE_FILE),
      `${readFileSync(join(dist, BUNDLE_FILE), "utf8")}\n// another build`,
    );
    const spoiled = copy();
    const cache = readFileSync(join(spoiled, CODE_CACHE_FILE));
    // The digest still fits; the V8 data after it does not.
    cache.fill(7, 40, 120);
    writeFileSync(join(spoiled, CODE_CACHE_FILE), cache);

    // Act, Assess
    expect(codeCacheStillFits(otherBundle)).toBe(false);
    expect(codeCacheStillFits(spoiled)).toBe(false);
  });
});
