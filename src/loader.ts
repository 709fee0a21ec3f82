import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Script } from "node:vm";
import { BUNDLE_FILE, CODE_CACHE_DIGEST_BYTES, cacheFileOf } from "./bundle-files";

/**
 * The function's entry file (`index.js`, handler `index.handler`). It runs the bundle
 * (`scan-on-push.js`) with the V8 code cache written beside it at build time
 * (`scan-on-push.js.cache`), so that a cold instance deserialises the compiled functions of a push
 * instead of compiling them again (13–25 ms of a cold start on the build machine, a quarter of
 * it or more: docs/performance.md). The files built apart, which the bundle requires only when it
 * needs them (the Redis backend `redis-queue.js` with a Redis queue; `zod.js` when a schema is
 * first built), are run the same way, from their own cache.
 *
 * A cache holds V8 bytecode for one exact file: it starts with the file's SHA-256 and is ignored
 * when that differs; V8 itself rejects it when its version or flags differ from the build's.
 * Either way the file is compiled as without a cache, and `codeCache` says which case applied to
 * the bundle ("used", "rejected", "absent").
 */
type CodeCacheUse = "used" | "rejected" | "absent";

interface Built {
  exports: unknown;
  codeCache: CodeCacheUse;
  /** The file's code cache as the build writes it: its digest, then V8's data. */
  createCodeCache(): Buffer;
}

/** Compiles a built file beside this one (from its code cache when it fits) and runs it. */
function runBuilt(file: string, requireFor: (id: string) => unknown): Built {
  const path = join(__dirname, file);
  const bytes = readFileSync(path);
  // Hashed as read: hashing the decoded text would encode it again (about 0.3 ms more).
  const digest = createHash("sha256").update(bytes).digest();
  let cachedData: Buffer | undefined;
  try {
    const cache = readFileSync(join(__dirname, cacheFileOf(file)));
    if (cache.subarray(0, CODE_CACHE_DIGEST_BYTES).equals(digest)) {
      cachedData = cache.subarray(CODE_CACHE_DIGEST_BYTES);
    }
  } catch {
    // no cache beside it: compiled without
  }
  // The file is a function expression (BUNDLE_HEAD … BUNDLE_TAIL).
  const script = new Script(bytes.toString("utf8"), { filename: path, cachedData });
  const module: { exports: unknown } = { exports: {} };
  script.runInThisContext()(module.exports, requireFor, module, path, __dirname);
  return {
    exports: module.exports,
    codeCache:
      cachedData === undefined ? "absent" : script.cachedDataRejected ? "rejected" : "used",
    createCodeCache: () => Buffer.concat([digest, script.createCachedData()]),
  };
}

const apart = new Map<string, Built>();

/**
 * The bundle's `require`: a file of the build (`./redis-queue.js`, `./zod.js`) runs from its code
 * cache, once; anything else is Node's, resolved beside this file.
 */
export function requireBuilt(id: string): unknown {
  if (!id.startsWith("./")) return require(id);
  let built = apart.get(id);
  if (built === undefined) {
    built = runBuilt(id.slice(2), requireBuilt);
    apart.set(id, built);
  }
  return built.exports;
}

const bundle = runBuilt(BUNDLE_FILE, requireBuilt);
const { handler: bundleHandler, createHandler: bundleCreateHandler } =
  bundle.exports as typeof import("./handler");

export const codeCache: CodeCacheUse = bundle.codeCache;
export const handler = bundleHandler;
export const createHandler = bundleCreateHandler;

/** The files run so far, by file name: the bundle, then each file built apart. */
const runSoFar = (): Array<[string, Built]> => [
  [BUNDLE_FILE, bundle],
  ...[...apart].map(([id, built]): [string, Built] => [id.slice(2), built]),
];

/** Whether each file run so far ran from its code cache, by file name. */
export function codeCaches(): Record<string, CodeCacheUse> {
  return Object.fromEntries(runSoFar().map(([file, built]) => [file, built.codeCache]));
}

/** The code caches to write beside the files run so far, by cache file name. */
export function createCodeCaches(): Record<string, Buffer> {
  return Object.fromEntries(
    runSoFar().map(([file, built]) => [cacheFileOf(file), built.createCodeCache()]),
  );
}
