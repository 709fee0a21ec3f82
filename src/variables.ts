/**
 * How one environment variable is read: each rule takes the variable's text (undefined when
 * unset) and returns its value, or says what is wrong through `say` (the message, and where inside
 * a JSON value). The configuration (config.ts) is a table of these rules.
 *
 * Plain functions rather than schemas: the configuration is read at every cold start, and building
 * some two hundred schema objects for its variables took about 5 ms before the first push
 * could be handled (docs/performance.md). The JSON-valued variables still hand their parsed
 * document to the zod schemas of the modules they configure, built only when such a variable is
 * set.
 */

/** Reports one problem with the variable being read; `inside` is the path within a JSON value. */
export type Say = (message: string, inside?: ReadonlyArray<PropertyKey>) => undefined;

/** Reads one variable's text; the value is what the configuration holds. */
export type Rule<T> = (raw: string | undefined, say: Say) => T;

/** An empty variable (common in console forms and serverless.yml) means "not set". */
export const isUnset = (raw: string | undefined): raw is undefined =>
  raw === undefined || raw.trim() === "";

/** The rule's value, or undefined when the variable is unset. */
export const optional =
  <T>(rule: Rule<T>): Rule<T | undefined> =>
  (raw, say) =>
    isUnset(raw) ? undefined : rule(raw, say);

/** The rule's value, or `fallback` when the variable is unset (or wrong: the problem is said). */
export const withDefault =
  <T>(rule: Rule<T | undefined>, fallback: T): Rule<T> =>
  (raw, say) =>
    isUnset(raw) ? fallback : (rule(raw, say) ?? fallback);

/** The text as given, not trimmed. */
export const anyText: Rule<string | undefined> = (raw) => raw;

interface TextRules {
  max?: number;
  lowerCase?: boolean;
  /** A pattern the (trimmed) text must match, and what to say when it does not. */
  pattern?: readonly [RegExp, string];
}

/** Trimmed text of at least one character, with optional limits. */
export const text =
  ({ max, lowerCase, pattern }: TextRules = {}): Rule<string | undefined> =>
  (raw, say) => {
    let value = (raw ?? "").trim();
    if (lowerCase) value = value.toLowerCase();
    if (value.length === 0) return say("must not be empty");
    if (max !== undefined && value.length > max) {
      return say(`must be at most ${max} characters long`);
    }
    if (pattern && !pattern[0].test(value)) return say(pattern[1]);
    return value;
  };

/** A URL whose scheme `protocols` matches (without its colon); `message` says what is expected. */
export const url =
  (protocols: RegExp, message: string): Rule<string | undefined> =>
  (raw, say) => {
    const value = (raw ?? "").trim();
    try {
      if (protocols.test(new URL(value).protocol.replace(/:$/, ""))) return value;
    } catch {
      // not a URL: said below
    }
    return say(message);
  };

/** Exactly one of `choices`. */
export const oneOf =
  <const C extends string>(choices: readonly C[]): Rule<C | undefined> =>
  (raw, say) =>
    choices.includes(raw as C) ? (raw as C) : say(`must be one of ${choices.join(", ")}`);

/** A whole number from `min` to `max`, or undefined when unset or wrong (and said). */
export const wholeNumber =
  (min: number, max: number): Rule<number | undefined> =>
  (raw, say) => {
    if (isUnset(raw)) return undefined;
    const value = Number(raw);
    if (Number.isInteger(value) && value >= min && value <= max) return value;
    return say(`must be a whole number from ${min} to ${max}`);
  };

/** A whole number from `min` to `max`; `fallback` when unset. */
export const integer = (min: number, max: number, fallback: number): Rule<number> =>
  withDefault(wholeNumber(min, max), fallback);

const FLAG_VALUES = ["true", "false", "1", "0", "yes", "no"];

/** true/false, 1/0 or yes/no; `fallback` when unset. */
export const flag =
  (fallback: boolean): Rule<boolean> =>
  (raw, say) => {
    if (isUnset(raw)) return fallback;
    if (FLAG_VALUES.includes(raw)) return raw === "true" || raw === "1" || raw === "yes";
    say(`must be one of ${FLAG_VALUES.join(", ")}`);
    return fallback;
  };

/** A JSON document, handed to `read`; `example` shows in the problem when it is not JSON. */
export const json =
  <T>(example: string, read: (document: unknown, say: Say) => T): Rule<T | undefined> =>
  (raw, say) => {
    let document: unknown;
    try {
      document = JSON.parse(raw ?? "");
    } catch {
      return say(`must be a JSON object such as ${example}`);
    }
    return read(document, say);
  };

/** A zod-like schema's result: its value, or its issues (each a message and a path). */
export interface SchemaResult<T> {
  success: boolean;
  data?: T;
  error?: { issues: ReadonlyArray<{ message: string; path: ReadonlyArray<PropertyKey> }> };
}

/** Reads a JSON document with a schema, saying each of its issues where it occurred. */
export const bySchema =
  <T>(schema: () => { safeParse(value: unknown): SchemaResult<T> }) =>
  (document: unknown, say: Say): T | undefined => {
    const result = schema().safeParse(document);
    if (result.success) return result.data;
    for (const issue of result.error?.issues ?? []) say(issue.message, issue.path);
    return undefined;
  };
