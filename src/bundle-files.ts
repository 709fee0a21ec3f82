/** The files of the built function, beside its entry file `index.js` (see src/loader.ts). */
export const BUNDLE_FILE = "scan-on-push.js";
/** V8's code cache for a built file, written beside it at build time. */
export const cacheFileOf = (file: string) => `${file}.cache`;
/** The bundle's code cache. */
export const CODE_CACHE_FILE = cacheFileOf(BUNDLE_FILE);
/** The cache starts with the SHA-256 of the bundle it was made for. */
export const CODE_CACHE_DIGEST_BYTES = 32;

/**
 * The bundle's CommonJS code (and each file built apart) is written inside the function Node.js
 * wraps a module in, so that index.js compiles the file's text as read: wrapping it at load would
 * make a second copy of the 250 KiB source in V8's young generation at every cold start
 * (scripts/build.ts adds these).
 */
export const BUNDLE_HEAD = "(function (exports, require, module, __filename, __dirname) {\n";
export const BUNDLE_TAIL = "\n})";
