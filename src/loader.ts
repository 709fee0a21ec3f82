import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Script } from "node:vm";
import { BUNDLE_FILE, CODE_CACHE_DIGEST_BYTES, CODE_CACHE_FILE } from "./bundle-files";

/**
 * The function's entry file (`index.js`, handler `index.handler`). It runs the bundle
 * (`scan-on-push.js`) with the V8 code cache written beside it at build time
 * (`scan-on-push.js.cache`), so that a cold instance deserialises the compiled functions of a push
 * instead of compiling them again (13–25 ms of a cold start on the build machine, a quarter of
 * it or more: docs/performance.md).
 *
 * The cache holds V8 bytecode for one exact bundle: it starts with the bundle's SHA-256 and is
 * ignored when that differs; V8 itself rejects it when its version or flags differ from the
 * build's. Either way the bundle is compiled as without a cache, and `codeCache` says which
 * case applied ("used", "rejected", "absent").
 */
const bundlePath = join(__dirname, BUNDLE_FILE);
const bytes = readFileSync(bundlePath);
// Hashed as read: hashing the decoded text would encode it again (about 0.3 ms more).
const digest = createHash("sha256").update(bytes).digest();
const source = bytes.toString("utf8");

function readCache(): Buffer | undefined {
  try {
    const file = readFileSync(join(__dirname, CODE_CACHE_FILE));
    return file.subarray(0, CODE_CACHE_DIGEST_BYTES).equals(digest)
      ? file.subarray(CODE_CACHE_DIGEST_BYTES)
      : undefined;
  } catch {
    return undefined;
  }
}

const cachedData = readCache();
// The file is a function expression (BUNDLE_HEAD … BUNDLE_TAIL); `require` resolves beside this file.
const script = new Script(source, { filename: bundlePath, cachedData });
const bundle: { exports: typeof import("./handler") } = { exports: {} as never };
script.runInThisContext()(bundle.exports, require, bundle, bundlePath, __dirname);

export const codeCache: "used" | "rejected" | "absent" =
  cachedData === undefined ? "absent" : script.cachedDataRejected ? "rejected" : "used";
export const handler = bundle.exports.handler;
export const createHandler = bundle.exports.createHandler;

/** The code cache for this bundle as the build writes it: its digest, then V8's data. */
export function createCodeCache(): Buffer {
  return Buffer.concat([digest, script.createCachedData()]);
}
