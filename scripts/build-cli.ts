import { chmod, rm } from "node:fs/promises";
import { join } from "node:path";
import { build } from "esbuild";
import { editSources, replaceUnusedModules } from "./build";

/**
 * Bundles the commands into dist-cli/swr-scan-on-push.js: one CommonJS file for Node.js 20 with
 * everything it needs inside (the SDK core, ioredis, zod …), so that the package runs with no
 * dependency to install and no TypeScript at run time. package.json's `bin` points at the small
 * bin/swr-scan-on-push.js, which loads it. Run by `prepare`, so on `npm ci`, `npm pack` and an
 * install from a git URL.
 */
const root = join(__dirname, "..");
export const CLI_DIR = join(root, "dist-cli");
export const CLI_FILE = join(CLI_DIR, "swr-scan-on-push.js");

export async function buildCli() {
  await rm(CLI_DIR, { recursive: true, force: true });
  const result = await build({
    entryPoints: [join(root, "src", "cli", "main.ts")],
    outfile: CLI_FILE,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    minify: true,
    legalComments: "none",
    metafile: true,
    mainFields: ["main", "module"],
    conditions: ["node", "require"],
    plugins: [replaceUnusedModules, editSources],
    // Each command's module also runs on its own (`require.main === module`, for `npm run scan` …);
    // in the bundle only main.ts decides what runs.
    define: { "require.main": "undefined" },
    logLevel: "warning",
  });
  await chmod(CLI_FILE, 0o755);
  return result;
}

if (require.main === module) {
  buildCli().then(
    (result) => {
      const bytes = Object.values(result.metafile?.outputs ?? {})[0]?.bytes;
      process.stderr.write(`built ${CLI_FILE} (${bytes} bytes)\n`);
    },
    (error: Error) => {
      process.stderr.write(`build-cli failed: ${error.message}\n`);
      process.exitCode = 1;
    },
  );
}
