/** The files of the built function, beside its entry file `index.js` (see src/loader.ts). */
export const BUNDLE_FILE = "scan-on-push.js";
/** V8's code cache for BUNDLE_FILE, written at build time. */
export const CODE_CACHE_FILE = `${BUNDLE_FILE}.cache`;
