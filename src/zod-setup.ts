import { config } from "zod/mini";
import en from "zod/v4/locales/en.js";

// zod/mini (smaller and faster to load than the classic API) ships no messages: the English ones
// make validation errors say what is wrong. Zod also compiles a fast parser for each object
// schema with `new Function` on first use; a function that parses a handful of small payloads
// per cold start pays that compile and never earns it back, so parsing stays interpreted.
// Imported first by every module with schemas.
config({ ...en(), jitless: true });
