/**
 * How one environment variable is read: each rule takes the variable's text (undefined when
 * unset) and returns its value, or says what is wrong through `say` (the message, and where inside
 * a JSON value). The configuration (config.ts) is a table of these rules.
 *
 * Plain functions rather than schemas: the configuration is read at every cold start, and building
 * some two hundred schema objects for its variables took about 5 ms before the first push
 * could be handled (docs/performance.md). The chat channels and routes are read inside their JSON
 * with the field readers below; SCAN_POLICY hands its document to its module's zod schema
 * (`bySchema`), built only when it is set.
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

/**
 * A JSON document, handed to `read` (a schema through `bySchema`, or a field reader below);
 * `example` shows in the problem when it is not JSON.
 */
export const json =
  <T>(
    example: string,
    read: (document: unknown, say: Say, at: PropertyKey[]) => T,
  ): Rule<T | undefined> =>
  (raw, say) => {
    let document: unknown;
    try {
      document = JSON.parse(raw ?? "");
    } catch {
      return say(`must be a JSON object such as ${example}`);
    }
    return read(document, say, []);
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

/**
 * Reads one value inside a JSON document (`at`: where it is) and says what is wrong there. The
 * JSON variables read at every cold start of a deployment that sets them (the chat channels and
 * routes) are read with these, not with schemas: starting zod, building their schemas and
 * parsing took some 4 ms of such a cold start (docs/performance.md). A value is never echoed,
 * only its kind: it may be a secret; an unknown field's name is cut to 40 characters.
 */
export type Field<T> = (value: unknown, say: Say, at: ReadonlyArray<PropertyKey>) => T | undefined;

const kindOf = (value: unknown): string => {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "an object";
  return typeof value === "string" ? "text" : `a ${typeof value}`;
};

/** Text of 1 to `max` characters (after trimming, with `trim`). */
export const textField =
  ({ max, trim = false }: { max: number; trim?: boolean }): Field<string> =>
  (value, say, at) => {
    if (typeof value !== "string") return say(`must be text, not ${kindOf(value)}`, at);
    const read = trim ? value.trim() : value;
    if (read.length === 0) return say("must not be empty", at);
    if (read.length > max) return say(`must be at most ${max} characters long`, at);
    return read;
  };

/** Exactly one of `choices`. */
export const choiceField =
  <const C extends string>(choices: readonly C[]): Field<C> =>
  (value, say, at) =>
    choices.includes(value as C) ? (value as C) : say(`must be one of ${choices.join(", ")}`, at);

/** A whole number from `min` to `max`. */
export const wholeField =
  (min: number, max: number): Field<number> =>
  (value, say, at) =>
    typeof value === "number" && Number.isInteger(value) && value >= min && value <= max
      ? value
      : say(`must be a whole number from ${min} to ${max}`, at);

export const flagField: Field<boolean> = (value, say, at) =>
  typeof value === "boolean" ? value : say(`must be true or false, not ${kindOf(value)}`, at);

/** A list of at least `min` entries, each read by `entry`; every wrong entry is said. */
export const listField =
  <T>(entry: Field<T>, { min = 0 }: { min?: number } = {}): Field<T[]> =>
  (value, say, at) => {
    if (!Array.isArray(value)) return say(`must be a list, not ${kindOf(value)}`, at);
    if (value.length < min) {
      return say(min === 1 ? "must not be empty" : `must have at least ${min} entries`, at);
    }
    const read = value.map((item, index) => entry(item, say, [...at, index]));
    return read.every((item) => item !== undefined) ? (read as T[]) : undefined;
  };

type Fields = Record<string, Field<unknown>>;
type Read<F extends Fields> = { [K in keyof F]?: F[K] extends Field<infer T> ? T : never };

/** A JSON object: not null, not a list. */
export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** An object of these fields only (another is named as unknown), `required` among them. */
export const objectField =
  <F extends Fields, R extends keyof F & string = never>(
    fields: F,
    required: readonly R[] = [],
  ): Field<Read<F> & Required<Pick<Read<F>, R>>> =>
  (value, say, at) => {
    if (!isObject(value)) return say(`must be an object, not ${kindOf(value)}`, at);
    let wrong = false;
    const read: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      const field = Object.hasOwn(fields, key) ? fields[key] : undefined;
      const got = field?.(item, say, [...at, key]);
      if (!field) {
        say(`has no field "${key.slice(0, 40)}" (it takes ${Object.keys(fields).join(", ")})`, at);
      }
      if (got === undefined) wrong = true;
      else read[key] = got;
    }
    for (const key of required) {
      if (!Object.hasOwn(value, key)) say(`needs "${key}"`, at);
      wrong ||= !Object.hasOwn(value, key);
    }
    return wrong ? undefined : (read as Read<F> & Required<Pick<Read<F>, R>>);
  };

/** An object whose keys `key` reads (trimmed names, say) and whose values `entry` reads. */
export const recordField =
  <T>(key: Field<string>, entry: Field<T>): Field<Record<string, T>> =>
  (value, say, at) => {
    if (!isObject(value)) return say(`must be an object, not ${kindOf(value)}`, at);
    let wrong = false;
    const read: Record<string, T> = {};
    for (const [name, item] of Object.entries(value)) {
      const readName = key(name, say, [...at, name]);
      const readItem = entry(item, say, [...at, name]);
      if (readName === undefined || readItem === undefined) wrong = true;
      // Defined, not assigned: a name such as "__proto__" is a name like any other.
      else
        Object.defineProperty(read, readName, {
          value: readItem,
          enumerable: true,
          writable: true,
          configurable: true,
        });
    }
    return wrong ? undefined : read;
  };
