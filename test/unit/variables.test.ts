import { describe, expect, it } from "vitest";
import {
  bySchema,
  choiceField,
  type Field,
  flag,
  flagField,
  integer,
  json,
  listField,
  objectField,
  oneOf,
  optional,
  type Rule,
  recordField,
  text,
  textField,
  url,
  wholeField,
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

/** A field reader's value and what it said (with where), for one JSON value. */
function readValue<T>(field: Field<T>, value: unknown) {
  return read(
    json("{}", (document, say) => field(document, say, [])),
    JSON.stringify(value),
  );
}

describe("reading inside a JSON value", () => {
  const channel = objectField(
    {
      type: choiceField(["slack", "teams"]),
      url: textField({ max: 20 }),
      per_minute: wholeField(1, 100),
      muted: flagField,
    },
    ["type"],
  );
  const channels = recordField(textField({ max: 8, trim: true }), channel);

  it("takes what fits, trimming names where asked", () => {
    expect(
      readValue(channels, { " ops ": { type: "slack", url: "https://x", per_minute: 5 } }),
    ).toEqual({ value: { ops: { type: "slack", url: "https://x", per_minute: 5 } }, said: [] });
    expect(readValue(listField(flagField, { min: 1 }), [true, false]).value).toEqual([true, false]);
  });

  it("says every problem at once, each where it is, and never echoes a value", () => {
    const { value, said } = readValue(channels, {
      ops: { type: "pager", url: "https://T0KEN-is-far-too-long", extra: 1 },
      dev: { url: 7, per_minute: 2.5, muted: "yes" },
      "a-very-long-name": "T0KEN",
    });
    expect(value).toBeUndefined();
    expect(said).toEqual([
      "ops.type: must be one of slack, teams",
      "ops.url: must be at most 20 characters long",
      'ops: has no field "extra" (it takes type, url, per_minute, muted)',
      "dev.url: must be text, not a number",
      "dev.per_minute: must be a whole number from 1 to 100",
      "dev.muted: must be true or false, not text",
      'dev: needs "type"',
      "a-very-long-name: must be at most 8 characters long",
      "a-very-long-name: must be an object, not text",
    ]);
    expect(said.join("\n")).not.toMatch(/T0KEN/);
  });

  it("names an unknown field by its first 40 characters only", () => {
    const pasted = `https://hooks.example.com/T0KEN-${"x".repeat(60)}`;
    const { said } = readValue(channel, { type: "slack", [pasted]: true });
    expect(said).toEqual([
      `has no field "${pasted.slice(0, 40)}" (it takes type, url, per_minute, muted)`,
    ]);
  });

  it("keeps a name such as __proto__ as a name", () => {
    const named = recordField(textField({ max: 64 }), channel);
    const { value, said } = readValue(named, JSON.parse('{"__proto__": {"type": "teams"}}'));
    expect(said).toEqual([]);
    expect(Object.entries(value ?? {})).toEqual([["__proto__", { type: "teams" }]]);
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
  });

  it("names the kind of a value that is not a list or an object, and an empty list", () => {
    expect(readValue(listField(flagField), { a: 1 }).said).toEqual([
      "must be a list, not an object",
    ]);
    expect(readValue(listField(flagField, { min: 1 }), []).said).toEqual(["must not be empty"]);
    expect(readValue(channels, [1]).said).toEqual(["must be an object, not a list"]);
    expect(readValue(channel, null).said).toEqual(["must be an object, not null"]);
    expect(readValue(listField(textField({ max: 3 })), ["ab", " "]).said).toEqual([]);
    expect(readValue(listField(textField({ max: 3, trim: true })), ["ab", " "]).said).toEqual([
      "1: must not be empty",
    ]);
  });
});
