import { describe, expect, it } from "vitest";
import {
  bySchema,
  flag,
  integer,
  json,
  oneOf,
  optional,
  type Rule,
  text,
  url,
  wholeNumber,
  withDefault,
} from "../../src/variables";

/** A rule's value and what it said, for one variable's text. */
function read<T>(rule: Rule<T>, raw: string | undefined) {
  const said: string[] = [];
  const value = rule(raw, (message, inside = []) => {
    said.push(inside.length > 0 ? `${inside.map(String).join(".")}: ${message}` : message);
    return undefined;
  });
  return { value, said };
}

describe("reading one variable", () => {
  it("takes an empty or blank variable as unset", () => {
    for (const raw of [undefined, "", "  "]) {
      expect(read(optional(text()), raw)).toEqual({ value: undefined, said: [] });
      expect(read(withDefault(text(), "fallback"), raw)).toEqual({ value: "fallback", said: [] });
      expect(read(integer(1, 5, 3), raw)).toEqual({ value: 3, said: [] });
      expect(read(flag(true), raw)).toEqual({ value: true, said: [] });
    }
  });

  it("trims text and holds it to its limits and pattern", () => {
    expect(read(text({ max: 5 }), "  abc ")).toEqual({ value: "abc", said: [] });
    expect(read(text({ max: 5 }), "abcdef").said).toEqual(["must be at most 5 characters long"]);
    expect(read(text({ lowerCase: true }), " X-Token ").value).toBe("x-token");
    const region = text({ pattern: [/^[a-z]+-\d$/, "must be a region"] });
    expect(read(region, "cn-4").value).toBe("cn-4");
    expect(read(region, "CN 4").said).toEqual(["must be a region"]);
  });

  it("takes URLs of the schemes it names only", () => {
    const web = url(/^https?$/, "must be an http(s) URL");
    expect(read(web, " https://hss.example.com ").value).toBe("https://hss.example.com");
    for (const raw of ["hss.example.com", "ftp://hss.example.com", "https//x"]) {
      expect(read(web, raw)).toEqual({ value: undefined, said: ["must be an http(s) URL"] });
    }
  });

  it("takes whole numbers within their range, and names the range otherwise", () => {
    expect(read(wholeNumber(1, 10), "10").value).toBe(10);
    for (const raw of ["0", "11", "2.5", "ten", "1e3"]) {
      expect(read(wholeNumber(1, 10), raw).said).toEqual(["must be a whole number from 1 to 10"]);
    }
    expect(read(integer(1, 10, 4), "99")).toEqual({
      value: 4,
      said: ["must be a whole number from 1 to 10"],
    });
  });

  it("takes flags and choices exactly as written", () => {
    expect(read(flag(false), "yes").value).toBe(true);
    expect(read(flag(true), "0").value).toBe(false);
    expect(read(flag(false), "TRUE").said).toEqual(["must be one of true, false, 1, 0, yes, no"]);
    expect(read(oneOf(["debug", "info"]), "info").value).toBe("info");
    expect(read(oneOf(["debug", "info"]), "Info").said).toEqual(["must be one of debug, info"]);
  });

  it("reads JSON, then hands it on; says where inside a schema found a problem", () => {
    const schema = () => ({
      safeParse: (value: unknown) =>
        Array.isArray(value)
          ? { success: true, data: value.length }
          : { success: false, error: { issues: [{ message: "expected a list", path: ["a", 0] }] } },
    });
    const rule = json("[1, 2]", bySchema(schema));
    expect(read(rule, "[1, 2, 3]")).toEqual({ value: 3, said: [] });
    expect(read(rule, '{"a": 1}')).toEqual({ value: undefined, said: ["a.0: expected a list"] });
    expect(read(rule, "[1, 2")).toEqual({
      value: undefined,
      said: ["must be a JSON object such as [1, 2]"],
    });
  });
});
