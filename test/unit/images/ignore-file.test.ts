import { describe, expect, it } from "vitest";
import { IgnoreFileError, Ignores, parseIgnoreFile } from "../../../src/images/ignore-file";

/** The ignore file the scan gate (and later the alerts) reads: each line as a person wrote it. */

const parse = (text: string) => parseIgnoreFile(text, ".hssignore");
const refusal = (text: string) => {
  try {
    parse(text);
  } catch (error) {
    if (error instanceof IgnoreFileError) return error.message;
    throw error;
  }
  throw new Error("expected a refusal");
};

describe("the ignore file", () => {
  it("reads an id, an image glob, an expiry and a reason; comments and blank lines are skipped", () => {
    const entries = parse(
      [
        "# reviewed 2026-11-30",
        "",
        "CVE-2026-01001  image=team/api:*  until=2027-01-31  # not reachable in our build",
        "CVE-2026-01002 # fixed upstream\r",
      ].join("\n"),
    );
    expect(entries).toEqual([
      {
        id: "CVE-2026-01001",
        image: "team/api:*",
        until: "2027-01-31",
        reason: "not reachable in our build",
        line: 3,
      },
      { id: "CVE-2026-01002", reason: "fixed upstream", line: 4 },
    ]);
  });

  it("keeps an image glob whole when it holds an = of its own", () => {
    const entries = parse("CVE-1 image=team/api:v=1 # the tag has an equals sign");
    expect(entries[0]?.image).toBe("team/api:v=1");
    expect(new Ignores(entries).find("CVE-1", "team/api:v=1")?.line).toBe(1);
  });

  it.each([
    ["2027-99-99", "no month 99"],
    ["2027-02-29", "2027 is not a leap year"],
    ["2027-04-31", "April has 30 days"],
    ["2027-1-31", "not YYYY-MM-DD"],
    ["", "empty"],
  ])("refuses until=%s (%s), naming the line", (until) => {
    expect(refusal(`CVE-1 # fine\nCVE-2 until=${until} # x`)).toBe(
      `.hssignore:2: until=${until}: expected a date that exists, YYYY-MM-DD (e.g. 2027-01-31)`,
    );
  });

  it("takes a leap day that exists", () => {
    expect(parse("CVE-1 until=2028-02-29 # x")[0]?.until).toBe("2028-02-29");
  });

  it("refuses a line without a reason, and a word it does not know", () => {
    expect(refusal("CVE-1")).toBe(
      '.hssignore:1: CVE-1 needs a reason after "#" (why it is accepted)',
    );
    expect(refusal("CVE-1 pkg=openssl # x")).toMatch(/^\.hssignore:1: unknown "pkg=openssl"/);
  });
});

describe("which findings are accepted", () => {
  const ignores = new Ignores(
    parse(
      [
        "CVE-1 image=team/api:* # only for team/api",
        "CVE-2 # everywhere",
        "CVE-3 until=2026-12-01 # expired",
      ].join("\n"),
    ),
    "2026-12-03",
  );

  it("matches by id and, where given, by the image's glob", () => {
    expect(ignores.find("CVE-1", "team/api:v1")?.reason).toBe("only for team/api");
    expect(ignores.find("CVE-1", "team/web:v1")).toBeUndefined();
    expect(ignores.find("CVE-2", "any/image:tag")?.reason).toBe("everywhere");
    expect(ignores.find("CVE-9", "team/api:v1")).toBeUndefined();
  });

  it("counts an expired entry again, and says which", () => {
    expect(ignores.find("CVE-3", "team/api:v1")).toBeUndefined();
    expect(ignores.expired.map((entry) => entry.id)).toEqual(["CVE-3"]);
    expect(ignores.size).toBe(3);
  });
});

describe("the ignore file's package and owner", () => {
  it("reads package= and owner=, and accepts a finding only in the package named", () => {
    const entries = parse(
      "CVE-7 image=team/* package=openssl owner=team-api until=2027-01-31 # patched build\n",
    );
    expect(entries).toEqual([
      {
        id: "CVE-7",
        image: "team/*",
        package: "openssl",
        owner: "team-api",
        until: "2027-01-31",
        reason: "patched build",
        line: 1,
      },
    ]);
    const ignores = new Ignores(entries, "2026-12-03");
    expect(ignores.find("CVE-7", "team/api:1", "openssl")?.line).toBe(1);
    expect(ignores.find("CVE-7", "team/api:1", "zlib")).toBeUndefined();
    expect(ignores.find("CVE-7", "team/api:1")).toBeUndefined();
  });

  it("refuses an empty package or owner, naming the line", () => {
    expect(refusal("CVE-1 # ok\nCVE-2 package= # why\n")).toBe(
      '.hssignore:2: unknown "package=" (expected image=<glob>, package=<name>, until=<YYYY-MM-DD> or owner=<who>)',
    );
  });

  it("names the entries that end within a week, not those already ended or ending later", () => {
    const ignores = new Ignores(
      parse(
        [
          "CVE-1 until=2026-12-02 # ended",
          "CVE-2 until=2026-12-10 # ends in a week",
          "CVE-3 until=2026-12-11 # ends later",
          "CVE-4 # never ends",
        ].join("\n"),
      ),
      "2026-12-03",
    );
    expect(ignores.endingWithin(7, "2026-12-03").map((entry) => entry.id)).toEqual(["CVE-2"]);
  });
});
