import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type BuildOptions, build, type Metafile, type Plugin } from "esbuild";
import { BUNDLE_FILE, BUNDLE_HEAD, BUNDLE_TAIL, cacheFileOf } from "../src/bundle-files";
import { QUEUE_BACKENDS } from "../src/queue/backends";
import { codeCacheStillFits, writeCodeCache } from "./code-cache";

/**
 * Bundles the handler into dist/scan-on-push.js: one CommonJS file for Node.js 20, with a source
 * map, run by the entry file dist/index.js (src/loader.ts; FunctionGraph handler string
 * `index.handler`) with the V8 code cache written after the build (scripts/code-cache.ts; set
 * BUNDLE_CODE_CACHE=false to leave it out). Modules that are loaded but
 * never executed on this function's path are replaced by small stand-ins (scripts/bundle-stubs/).
 * Every replacement and edit must apply, or the build fails; the packages whose internals they
 * touch (the SDK core, middy's core) are pinned to exact versions in package.json.
 */
const root = join(__dirname, "..");
const stubs = join(root, "scripts", "bundle-stubs");

/**
 * Modules replaced by small stand-ins: what the importer asks for, whose imports are affected, the
 * stand-in, and why the original is not needed on this function's path.
 */
interface Replacement {
  request: RegExp;
  importer: RegExp;
  file: string;
  why: string;
}

export const REPLACED_MODULES: Replacement[] = [
  {
    request: /^\.\.\/internal\/services\/iam\.service$/,
    importer: /huaweicloud-sdk-core[\\/]auth$/,
    file: join(stubs, "iam-service.ts"),
    why: "IAM project look-ups: the endpoint and project id are always given",
  },
  {
    request: /^lodash$/,
    importer: /huaweicloud-sdk-core[\\/]auth$/,
    file: join(stubs, "lodash.ts"),
    why: "all of lodash for one sortBy in the signer",
  },
  {
    request: /^moment$/,
    importer: /huaweicloud-sdk-core[\\/]auth$/,
    file: join(stubs, "moment.ts"),
    why: "all of moment for one date format in the signer",
  },
  {
    request: /^debug$/,
    importer: /ioredis[\\/]built[\\/]utils$/,
    file: join(stubs, "debug.ts"),
    why: "ioredis's diagnostics: with DEBUG set they print each command's arguments (a password among them); loading them cost 1.5 ms",
  },
  {
    request: /^(tls|dns)$/,
    importer: /ioredis[\\/]built[\\/](connectors|cluster)([\\/]SentinelConnector)?$/,
    file: join(stubs, "on-first-use.ts"),
    why: "tls and dns loaded when first called (rediss:// only; a cluster), not when ioredis loads (1 ms)",
  },
  {
    request: /^assert$/,
    importer: /redis-errors[\\/]lib$/,
    file: join(stubs, "assert-on-first-use.cjs"),
    why: "assert loaded when a Redis reply cannot be parsed, not when redis-errors loads (0.8 ms with stderr's set-up)",
  },
  {
    request: /^zod\/(mini|v4\/locales\/en\.js)$/,
    importer: /[\\/]src([\\/][\w-]+)*$/,
    file: join(stubs, "zod-on-first-use.ts"),
    why: "zod loaded when a schema is first built, not when the modules that build schemas load: a push read by hand builds none (with zod in the bundle, a direct-mode cold start took about 1.5 ms longer)",
  },
  {
    request: /^node:stream\/(web|promises)$/,
    importer: /@middy[\\/]core$/,
    file: join(stubs, "response-streaming.ts"),
    why: "middy's response streaming (not used)",
  },
];

/**
 * Queue backends whose registration says `apart` (the Redis backend, with ioredis) are files of
 * their own beside the handler: loaded only when SCAN_QUEUE names them, and kept out of index.js
 * so that direct mode does not load them on every cold start (Redis: 170 KiB; loading it took 25–36
 * ms before it ran from a code cache of its own and ioredis's Commander was edited, 6.5 ms now).
 */
export const BACKEND_FILES = QUEUE_BACKENDS.flatMap(({ apart }) => (apart ? [apart] : []));

/**
 * Libraries built apart: zod, which the bundle requires through its stand-in
 * (scripts/bundle-stubs/zod-on-first-use.ts) when a schema is first built. Even never run, zod in
 * the bundle cost a direct-mode cold start about 1.5 ms: its functions' entries in the bundle's
 * code cache, its modules' export objects built at load, and a young-generation scavenge before
 * the HSS request instead of while HSS answers (docs/performance.md). It shares nothing with the
 * bundle but the settings zod keeps on globalThis.
 */
export const LIBRARY_FILES = [{ file: "zod.js", source: "scripts/bundle-stubs/zod-loaded.ts" }];

/** Every file built apart from the bundle, each with its own code cache. */
export const APART_FILES = [...BACKEND_FILES, ...LIBRARY_FILES];
const APART = APART_FILES.map(({ file }) => file);

/** An import of a file built apart, anywhere in the bundle, is a require of that file. */
const filesApart: Plugin = {
  name: "files-apart",
  setup(builder) {
    const apart = new Map(
      APART_FILES.map(({ file, source }) => [join(root, source).replace(/\.ts$/, ""), file]),
    );
    builder.onResolve({ filter: /^\.\.?\/[\w./-]+$/ }, (args) => {
      if (args.kind === "entry-point") return undefined;
      const file = apart.get(join(args.resolveDir, args.path).replace(/\.ts$/, ""));
      return file === undefined ? undefined : { path: `./${file}`, external: true };
    });
  },
};

/**
 * Replacements and edits that applied during the current build. A dependency upgrade that moves or
 * renames what they match must fail the build, not silently ship the original module.
 */
const fired = new Set<string>();

export const replaceUnusedModules: Plugin = {
  name: "replace-unused-modules",
  setup(builder) {
    builder.onResolve({ filter: /./ }, (args) => {
      const replacement = REPLACED_MODULES.find(
        (candidate) =>
          candidate.request.test(args.path) && candidate.importer.test(args.resolveDir),
      );
      if (!replacement) return undefined;
      fired.add(`replacement ${replacement.request}`);
      return { path: replacement.file };
    });
  },
};

/**
 * Source edits to dependencies, each with the exact text it replaces: a build against a version
 * where that text changed fails here instead of shipping an unreviewed bundle. Every file an edit's
 * pattern matches must hold its text.
 */
export const SOURCE_EDITS: Array<{ file: RegExp; find: string; replace: string; why: string }> = [
  {
    file: /huaweicloud-sdk-core[\\/]auth[\\/]AKSKSigner\.js$/,
    find: "headers.sort((a, b) => a.key.toLocaleLowerCase().localeCompare(b.key.toLocaleLowerCase()));",
    replace:
      "headers.sort((a, b) => { const x = a.key.toLowerCase(), y = b.key.toLowerCase(); return x < y ? -1 : x > y ? 1 : 0; });",
    why: "the first localeCompare initialises ICU collation (about 9 ms); header names are ASCII and the signed-header list is already sorted by code point",
  },
  {
    file: /huaweicloud-sdk-core[\\/]auth[\\/](Derived)?AKSKSigner\.js$/,
    find: "const parsedUrl = url_1.default.parse(request.endpoint, true);",
    replace: "const parsedUrl = new URL(request.endpoint);",
    why: "Node's legacy url.parse costs about 0.7 ms at its first call (a direct-mode cold start's only one); the signer reads only the endpoint's host and path, which the WHATWG URL gives as Node's http sends them (the core already parses the same endpoint with new URL before signing)",
  },
  {
    file: /huaweicloud-sdk-core[\\/]auth[\\/](AKSKSigner|HKDF)\.js$/,
    find: 'const crypto = __importStar(require("crypto"));',
    replace: 'const crypto = require("crypto");',
    why: "TypeScript's namespace-import helper copies each of a built-in module's exports into a new object at load (crypto: about 0.1–0.2 ms a file); the core only calls crypto's functions by name",
  },
  {
    file: /huaweicloud-sdk-core[\\/]auth[\\/]BaseCredentials\.js$/,
    find: 'const fs = __importStar(require("fs"));',
    replace: 'const fs = require("fs");',
    why: "the same helper over fs's hundred exports (about 0.3–0.5 ms at load); the core only calls fs.readFileSync, for a federated identity token",
  },
  {
    file: /ioredis[\\/]built[\\/]utils[\\/]Commander\.js$/,
    find: 'commands.push("sentinel");\n',
    replace:
      'commands.push("sentinel");\n{ const prototype = Commander.prototype; prototype.__a = 0; prototype.__b = 0; delete prototype.__a; delete prototype.__b; }\n',
    why: "ioredis puts a method per Redis command (about 480) on Commander.prototype one by one; V8 copies a fast-mode prototype's property table at each addition, about 8 ms and 5 MB of garbage at every cold start with a Redis queue. Deleting a property first puts the prototype in dictionary mode, where each addition is constant time (0.6 ms); calls are as fast",
  },
];

const editedFiles = new RegExp(SOURCE_EDITS.map(({ file }) => file.source).join("|"));

export const editSources: Plugin = {
  name: "edit-sources",
  setup(builder) {
    builder.onLoad({ filter: editedFiles }, async (args) => {
      let source = await readFile(args.path, "utf8");
      for (const edit of SOURCE_EDITS.filter(({ file }) => file.test(args.path))) {
        if (!source.includes(edit.find)) {
          throw new Error(`${args.path} no longer contains the text to edit (${edit.why})`);
        }
        fired.add(`edit ${edit.file}`);
        source = source.replace(edit.find, edit.replace);
      }
      return { contents: source, loader: "js" };
    });
  },
};

/** How the function is bundled: one CommonJS file per entry for Node.js 20, as FunctionGraph runs it. */
const NODE_BUNDLE = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  minify: process.env.BUNDLE_MINIFY !== "false",
  // Packages with a browser and a node build: the function needs the node one.
  mainFields: ["main", "module"],
  conditions: ["node", "require"],
  // `import()` of the Redis backend becomes `require()`: the bundle runs as a vm.Script, which
  // has no loader for dynamic imports.
  supported: { "dynamic-import": false },
  logLevel: "warning",
} as const satisfies BuildOptions;

/**
 * Writes a built file inside its module function (BUNDLE_HEAD … BUNDLE_TAIL, src/bundle-files.ts),
 * as index.js compiles it, and moves its source map down by the head's line.
 */
async function wrapBuiltFile(outdir: string, name: string): Promise<void> {
  const file = join(outdir, name);
  await writeFile(file, `${BUNDLE_HEAD}${await readFile(file, "utf8")}${BUNDLE_TAIL}`);
  const map = await readFile(`${file}.map`, "utf8").catch(() => undefined);
  if (map === undefined) return;
  const parsed = JSON.parse(map) as { mappings: string };
  const shift = ";".repeat(BUNDLE_HEAD.split("\n").length - 1);
  await writeFile(`${file}.map`, JSON.stringify({ ...parsed, mappings: shift + parsed.mappings }));
}

/**
 * The reference function (scripts/reference-function.ts) shipped as the function is: bundled the
 * same way with the same stand-ins, run by the same loader (`index.js`), with a code cache warmed
 * by the push it handles. `npm run bench` and `npm run cold-phases` measure it beside the function.
 */
export async function buildReference(outdir: string): Promise<void> {
  await build({
    ...NODE_BUNDLE,
    entryPoints: {
      index: join(root, "src", "loader.ts"),
      [BUNDLE_FILE.replace(/\.js$/, "")]: join(root, "scripts", "reference-function.ts"),
    },
    outdir,
    plugins: [replaceUnusedModules, editSources],
  });
  await wrapBuiltFile(outdir, BUNDLE_FILE);
  await writeCodeCache(outdir, ["apig-swr-ee-push.json"]);
}

export async function buildBundle(outdir = join(root, "dist")) {
  // Kept when they still fit the new files (see codeCacheStillFits).
  const caches = [BUNDLE_FILE, ...APART].map(cacheFileOf);
  const previousCaches = await Promise.all(
    caches.map((name) => readFile(join(outdir, name)).catch(() => undefined)),
  );
  await rm(outdir, { recursive: true, force: true });
  fired.clear();
  const result = await build({
    entryPoints: {
      index: join(root, "src", "loader.ts"),
      [BUNDLE_FILE.replace(/\.js$/, "")]: join(root, "src", "handler.ts"),
      ...Object.fromEntries(
        APART_FILES.map(({ file, source }) => [file.replace(/\.js$/, ""), join(root, source)]),
      ),
    },
    ...NODE_BUNDLE,
    outdir,
    sourcemap: true,
    metafile: true,
    legalComments: "none",
    plugins: [filesApart, replaceUnusedModules, editSources],
  });
  // A warning is a bundle that may not do what the sources say (an import a stand-in does not
  // export is undefined at run time): it fails the build.
  if (result.warnings.length > 0) {
    throw new Error(`esbuild warned: ${result.warnings.map(({ text }) => text).join("; ")}`);
  }
  const missed = [
    ...REPLACED_MODULES.map((r) => ({ key: `replacement ${r.request}`, why: r.why })),
    ...SOURCE_EDITS.map((e) => ({ key: `edit ${e.file}`, why: e.why })),
  ].filter(({ key }) => !fired.has(key));
  if (missed.length > 0) {
    throw new Error(
      `these replacements or edits no longer apply (a dependency changed; review and update scripts/build.ts): ${missed.map(({ key, why }) => `${key} (${why})`).join("; ")}`,
    );
  }
  for (const file of [BUNDLE_FILE, ...APART]) await wrapBuiltFile(outdir, file);
  await writeFile(join(outdir, NOTICES_FILE), await thirdPartyNotices(result.metafile));
  if (process.env.BUNDLE_CODE_CACHE !== "false") {
    for (const [i, cache] of previousCaches.entries()) {
      if (cache) await writeFile(join(outdir, caches[i] as string), cache);
    }
    if (!codeCacheStillFits(outdir, APART)) await writeCodeCache(outdir, undefined, APART);
  }
  return result;
}

export const NOTICES_FILE = "THIRD-PARTY-NOTICES.txt";

/** The licences of every package whose code is in the bundle, from their own files. */
async function thirdPartyNotices(metafile: Metafile): Promise<string> {
  const packages = new Set<string>();
  for (const input of Object.keys(metafile.inputs)) {
    const match = /^(.*node_modules\/(@[^/]+\/[^/]+|[^/]+))\//.exec(input);
    if (match?.[1]) packages.add(join(root, match[1]));
  }
  const sections: string[] = [];
  for (const directory of [...packages].sort()) {
    const manifest = JSON.parse(await readFile(join(directory, "package.json"), "utf8"));
    const licenceFile = (await readdir(directory)).find((name) => /^licen[cs]e/i.test(name));
    const text = licenceFile ? await readFile(join(directory, licenceFile), "utf8") : "";
    sections.push(`${manifest.name}@${manifest.version} (${manifest.license})\n\n${text.trim()}`);
  }
  return `swr-scan-on-push bundles code from these packages:\n\n${sections.join("\n\n----\n\n")}\n`;
}

if (require.main === module) {
  buildBundle().then(
    (result) => {
      const output = Object.entries(result.metafile?.outputs ?? {}).find(([file]) =>
        file.endsWith(BUNDLE_FILE),
      );
      process.stderr.write(`built ${output?.[0]} (${output?.[1].bytes} bytes)\n`);
    },
    (error: Error) => {
      process.stderr.write(`build failed: ${error.message}\n`);
      process.exitCode = 1;
    },
  );
}
