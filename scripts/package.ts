import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { zipSync } from "fflate";
import { BUNDLE_FILE, CODE_CACHE_FILE, cacheFileOf } from "../src/bundle-files";
import { APART_FILES, NOTICES_FILE } from "./build";

/**
 * `npm run package`: writes dist/swr-scan-on-push.zip with the function's files at its root (entry
 * file, bundle, its code cache, the files built apart (the Redis backend, zod) and their caches,
 * licences), ready to upload to FunctionGraph
 * (handler `index.handler`; `npm run deploy` uploads it) or AWS Lambda. The source map stays in
 * dist/ for reading stack traces; it is not needed at run time. Entries carry a fixed date, so
 * that the same build gives the same zip (and a redeploy sees an unchanged code digest); the code
 * cache is V8 output, not guaranteed byte-identical between builds.
 */
const root = join(__dirname, "..");
const dist = join(root, "dist");
export const PACKAGE_FILE = join(dist, "swr-scan-on-push.zip");

// 1980-01-01, the earliest date a zip entry can carry.
const FIXED_DATE = new Date(1980, 0, 1);

export function packageBundle(): { file: string; bytes: number; entries: string[] } {
  const files = [
    "index.js",
    BUNDLE_FILE,
    CODE_CACHE_FILE,
    ...APART_FILES.flatMap(({ file }) => [file, cacheFileOf(file)]),
    NOTICES_FILE,
  ];
  const entries: Record<string, [Uint8Array, { mtime: Date; level: 9 }]> = Object.fromEntries(
    files.map((name) => [name, [readFileSync(join(dist, name)), { mtime: FIXED_DATE, level: 9 }]]),
  );
  const zip = zipSync(entries);
  mkdirSync(dist, { recursive: true });
  writeFileSync(PACKAGE_FILE, zip);
  return { file: PACKAGE_FILE, bytes: zip.length, entries: Object.keys(entries) };
}

if (require.main === module) {
  const result = packageBundle();
  process.stderr.write(
    `packaged ${result.file} (${result.bytes} bytes: ${result.entries.join(", ")})\n`,
  );
}
