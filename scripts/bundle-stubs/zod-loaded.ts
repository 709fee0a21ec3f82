/**
 * The part of zod the function's modules use (zod/mini's functions and its English messages),
 * required by zod-on-first-use.ts when one of them is first called. Named one by one so that the
 * bundle keeps only what they reach, as a static import of zod would.
 */
export {
  array,
  boolean,
  catch,
  config,
  enum,
  extend,
  int,
  literal,
  looseObject,
  maxLength,
  minLength,
  nonnegative,
  nullable,
  number,
  object,
  optional,
  pipe,
  safeParse,
  strictObject,
  string,
  superRefine,
  transform,
  trim,
  union,
  unknown,
} from "zod/mini";
export { default as en } from "zod/v4/locales/en.js";
