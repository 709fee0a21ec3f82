/** The files of the built function, beside its entry file `index.js` (see src/loader.ts). */
export const BUNDLE_FILE = "scan-on-push.js";
/** V8's code cache for BUNDLE_FILE, written at build time. */
export const CODE_CACHE_FILE = `${BUNDLE_FILE}.cache`;
/** The cache starts with the SHA-256 of the bundle it was made for. */
export const CODE_CACHE_DIGEST_BYTES = 32;

/** The bundle as index.js compiles it: in the wrapper Node.js gives a CommonJS module. */
export function wrapBundle(source: string): string {
  return `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
}
