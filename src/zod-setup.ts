import { config } from "zod/mini";
import en from "zod/v4/locales/en.js";

// zod/mini (smaller and faster to load than the classic API) ships no messages: the English ones
// make validation errors say what is wrong. Zod also compiles a fast parser for each object
// schema with `new Function` on first use; a function that parses a handful of small payloads
// per cold start pays that compile and never earns it back, so parsing stays interpreted.
// Imported by every module with schemas, before it builds one.
config({ ...en(), jitless: true });

/**
 * A schema built on its first use, then kept: building schemas when a module loads is paid at every
 * cold start, and most cold starts parse nothing with them (a push is read by hand).
 */
export function lazySchema<T>(build: () => T): () => T {
  let built: T | undefined;
  return () => {
    built ??= build();
    return built;
  };
}
