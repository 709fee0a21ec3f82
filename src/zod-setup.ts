import { config } from "zod/mini";
import en from "zod/v4/locales/en.js";

/**
 * Runs `make` on the first call and returns what it made from then on.
 */
function once<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => {
    made ??= { value: make() };
    return made.value;
  };
}

/**
 * Sets zod up before a schema is built (each schema reads the settings as it is built). zod/mini
 * (smaller and faster to load than the classic API) ships no messages: the English ones make
 * validation errors say what is wrong. Zod also compiles a fast parser for each object schema with
 * `new Function` on first use; a function that parses a handful of small payloads per cold start
 * pays that compile and never earns it back, so parsing stays interpreted.
 *
 * Called by `lazySchema`, and at the top of a module that builds its schemas as it loads (those
 * loaded only where their calls are made). Nothing calls it when this module loads: in the
 * bundle, zod itself loads on its first use (scripts/bundle-stubs/zod-on-first-use.ts), which a
 * push read by hand never makes.
 */
export const configureZod = once(() => config({ ...en(), jitless: true }));

/**
 * A schema built on its first use, then kept: building schemas when a module loads is paid at every
 * cold start, and most cold starts parse nothing with them (a push is read by hand).
 */
export function lazySchema<T>(build: () => T): () => T {
  return once(() => {
    configureZod();
    return build();
  });
}
