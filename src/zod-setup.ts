import { config } from "zod";

// Zod compiles a fast parser for each object schema with `new Function` on first use. A function
// that parses a handful of small payloads per cold start pays that compile and never earns it
// back, so it parses without the compiled fast path. Imported first by every module with schemas.
config({ jitless: true });
