import type * as Loaded from "./zod-loaded";

/**
 * zod, as the function's modules import it (`zod/mini`, and `zod/v4/locales/en.js` as this file's
 * default export), loaded when one of its functions is first called: `./zod-loaded` is built
 * apart, as `zod.js` beside the bundle (scripts/build.ts), and run from its own code cache. Every
 * schema the function builds is built on first use (src/zod-setup.ts), and a push read by hand
 * builds none; yet with zod in the bundle a direct-mode cold start took about 1.5 ms longer
 * (docs/performance.md). A name missing here is an import esbuild cannot match, and the build
 * fails on it.
 */
type Zod = typeof Loaded;
type Call = (...args: unknown[]) => unknown;

const loaded: { zod?: Zod } = {};
const zod = (): Zod => {
  loaded.zod ??= require("./zod-loaded") as Zod;
  return loaded.zod;
};
const onFirstUse = <K extends keyof Zod>(name: K): Zod[K] =>
  ((...args: unknown[]) => (zod()[name] as Call)(...args)) as Zod[K];

export const array = onFirstUse("array");
export const boolean = onFirstUse("boolean");
const catchValue = onFirstUse("catch");
export const config = onFirstUse("config");
const enumOf = onFirstUse("enum");
export const extend = onFirstUse("extend");
export const int = onFirstUse("int");
export const literal = onFirstUse("literal");
export const looseObject = onFirstUse("looseObject");
export const maxLength = onFirstUse("maxLength");
export const minLength = onFirstUse("minLength");
export const nonnegative = onFirstUse("nonnegative");
export const nullable = onFirstUse("nullable");
export const number = onFirstUse("number");
export const object = onFirstUse("object");
export const optional = onFirstUse("optional");
export const pipe = onFirstUse("pipe");
export const safeParse = onFirstUse("safeParse");
export const strictObject = onFirstUse("strictObject");
export const string = onFirstUse("string");
export const superRefine = onFirstUse("superRefine");
export const transform = onFirstUse("transform");
export const trim = onFirstUse("trim");
export const union = onFirstUse("union");
export const unknown = onFirstUse("unknown");
export { catchValue as catch, enumOf as enum };

/** zod's English messages (`zod/v4/locales/en.js`). */
export default onFirstUse("en");
