import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { ROOT } from "../support/root";

/**
 * The house's rules, checked on the source itself (docs/architecture.md draws them): every module
 * of src/ sits in a layer and imports only from its own layer or below (type imports and lazy
 * `import()` included); no import cycle; and no function outside the emulator is longer than 80
 * lines.
 */

/** The layers, lowest first; a module is in the first layer one of whose prefixes it starts with. */
const LAYERS: Array<{ name: string; modules: string[] }> = [
  {
    name: "foundation",
    modules: [
      "errors",
      "log",
      "concurrency",
      "zod-setup",
      "variables",
      "bundle-files",
      "scan-policy",
      "images/",
      "cloud/request",
      "hss/batch-scan-request",
      // What an alert is, how each platform takes one, routes and the outbox's rules: pure, read
      // by the configuration (every channel checked at start) and by the queue (the outbox).
      "notify/alert",
      "notify/channels/",
      "notify/routes",
      "notify/outbox",
    ],
  },
  { name: "scan APIs", modules: ["scan-apis/"] },
  { name: "configuration", modules: ["config", "platform-context"] },
  { name: "signed calls", modules: ["cloud/"] },
  { name: "services", modules: ["hss/", "swr/", "submitted-images"] },
  { name: "queue", modules: ["queue/"] },
  // The steps, in the order a push goes through them: each may use the ones before it.
  {
    name: "steps: reading a delivery",
    modules: ["delivery", "formats/", "webhook-auth", "scan-plan"],
  },
  { name: "steps: naming images", modules: ["instance-urls"] },
  { name: "steps: sending", modules: ["send-scan", "submit"] },
  { name: "steps: alerts", modules: ["notify/"] },
  { name: "steps: rescans", modules: ["rescan/"] },
  { name: "steps: following scans", modules: ["follow-up/"] },
  { name: "steps: flushing the queue", modules: ["flush/"] },
  { name: "steps: answers and wiring", modules: ["report", "wiring/", "middleware/"] },
  { name: "entry", modules: ["intake", "composition-root", "handler", "loader"] },
  // Around the product: nothing of the product above may import these.
  { name: "emulators", modules: ["emulator/"] },
  { name: "what every command shares", modules: ["cli/command"] },
  { name: "local runners", modules: ["runners/"] },
  { name: "commands", modules: ["cli/"] },
];

/** The first layer around the product. */
const AROUND = LAYERS.findIndex(({ name }) => name === "emulators");

const SRC = join(ROOT, "src");

function sourceFiles(folder: string): string[] {
  return readdirSync(folder).flatMap((name) => {
    const path = join(folder, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith(".ts") ? [path] : [];
  });
}

/** A module's name: its path under src/, without `.ts`. */
const moduleOf = (path: string) => relative(SRC, path).replace(/\.ts$/, "").replaceAll("\\", "/");

function layerOf(module: string): number {
  const index = LAYERS.findIndex(({ modules }) =>
    modules.some((prefix) =>
      prefix.endsWith("/") ? module.startsWith(prefix) : module === prefix,
    ),
  );
  if (index < 0) throw new Error(`${module} is in no layer: add it to LAYERS`);
  return index;
}

/** Every module of src/ with the modules of src/ it imports (statically, by type, or lazily). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const path of sourceFiles(SRC)) {
    const source = ts.createSourceFile(path, readFileSync(path, "utf8"), ts.ScriptTarget.ES2022);
    const specifiers: string[] = [];
    const visit = (node: ts.Node) => {
      if (
        (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
        node.moduleSpecifier &&
        ts.isStringLiteral(node.moduleSpecifier)
      ) {
        specifiers.push(node.moduleSpecifier.text);
      }
      if (
        ts.isCallExpression(node) &&
        node.expression.kind === ts.SyntaxKind.ImportKeyword &&
        node.arguments[0] &&
        ts.isStringLiteral(node.arguments[0])
      ) {
        specifiers.push(node.arguments[0].text);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
    const imported = specifiers
      .filter((specifier) => specifier.startsWith("."))
      .map((specifier) => {
        const target = resolve(dirname(path), specifier);
        const file = [`${target}.ts`, join(target, "index.ts")].find((candidate) => {
          try {
            return statSync(candidate).isFile();
          } catch {
            return false;
          }
        });
        return file ? moduleOf(file) : undefined;
      })
      .filter((module): module is string => module !== undefined);
    graph.set(moduleOf(path), [...new Set(imported)]);
  }
  return graph;
}

/** Every import that runs up the layers, as "module (layer) imports module (layer)". */
function upwardImports(graph: Map<string, string[]>): string[] {
  const upward: string[] = [];
  for (const [module, imports] of graph) {
    for (const imported of imports) {
      if (layerOf(imported) > layerOf(module)) {
        upward.push(
          `${module} (${LAYERS[layerOf(module)]?.name}) imports ${imported} (${LAYERS[layerOf(imported)]?.name})`,
        );
      }
    }
  }
  return upward;
}

/** The functions of a source text over 80 lines, as "module:line (n lines)". */
function longFunctions(module: string, text: string): string[] {
  const source = ts.createSourceFile(module, text, ts.ScriptTarget.ES2022, true);
  const long: string[] = [];
  const visit = (node: ts.Node) => {
    if (
      ts.isFunctionDeclaration(node) ||
      ts.isMethodDeclaration(node) ||
      ts.isArrowFunction(node) ||
      ts.isFunctionExpression(node)
    ) {
      const start = source.getLineAndCharacterOfPosition(node.getStart()).line;
      const lines = source.getLineAndCharacterOfPosition(node.getEnd()).line - start + 1;
      if (lines > 80) long.push(`${module}:${start + 1} (${lines} lines)`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return long;
}

describe("the source's structure", () => {
  const graph = importGraph();

  it("has every module in a layer, importing only from its own layer or below", () => {
    expect(upwardImports(graph)).toEqual([]);
  });

  it("would name an upward import and a long function (the checks themselves)", () => {
    const withUpward = new Map(graph);
    withUpward.set("send-scan", [...(graph.get("send-scan") ?? []), "flush/flusher"]);
    expect(upwardImports(withUpward)).toEqual([
      "send-scan (steps: sending) imports flush/flusher (steps: flushing the queue)",
    ]);
    const body = Array.from({ length: 80 }, (_, line) => `  const a${line} = ${line};`);
    const source = `export function long() {\n${body.join("\n")}\n}\n`;
    expect(longFunctions("example", source)).toEqual(["example:1 (82 lines)"]);
  });

  it("has no import cycle", () => {
    const cycles: string[] = [];
    const state = new Map<string, "visiting" | "done">();
    const path: string[] = [];
    const visit = (module: string) => {
      state.set(module, "visiting");
      path.push(module);
      for (const next of graph.get(module) ?? []) {
        if (state.get(next) === "visiting") {
          cycles.push([...path.slice(path.indexOf(next)), next].join(" → "));
        } else if (!state.has(next)) visit(next);
      }
      path.pop();
      state.set(module, "done");
    };
    for (const module of graph.keys()) if (!state.has(module)) visit(module);
    expect(cycles).toEqual([]);
  });

  it("keeps the product out of reach of the tools around it", () => {
    const product = [...graph.keys()].filter((module) => layerOf(module) < AROUND);
    expect(product.length).toBeGreaterThan(40);
    for (const module of product) {
      for (const imported of graph.get(module) ?? []) {
        expect(imported, module).not.toMatch(/^(cli|runners|emulator)\//);
      }
    }
  });

  it("keeps test/unit in-process: no emulator, server, process or Redis there", () => {
    const UNIT = join(ROOT, "test", "unit");
    const starts =
      /["'](node:(http|https|net|child_process)|[./]*src\/emulator\/(hss-emulator|swr-emulator|chat-stand-ins|embedded)|[./]*deploy\/emulator\/.*|[./]*support\/(harness|use-redis|redis-server|start-process|local-tool|intake-process|deploy|callers))["']/;
    const offenders = sourceFiles(UNIT)
      .filter((path) => starts.test(readFileSync(path, "utf8")))
      .map((path) => relative(ROOT, path));
    expect(offenders).toEqual([]);
  });

  it("keeps the tests readable when they fail: seeded properties, no bare every()/some()", () => {
    const TEST = join(ROOT, "test");
    const files = sourceFiles(TEST)
      .filter((path) => !path.endsWith("architecture.test.ts"))
      .map((path) => ({
        path: relative(ROOT, path),
        text: readFileSync(path, "utf8"),
      }));
    // A property test draws from the fixed seed (test/support/property.ts), named on failure.
    const unseeded = files
      .filter(({ text }) => text.includes("fc.assert(") && !text.includes("support/property"))
      .map(({ path }) => path);
    expect(unseeded).toEqual([]);
    // `expect(xs.every(…)).toBe(true)` passes on an empty list and fails without naming the
    // element: filter the ones that fail and expect none.
    const bare = files
      .filter(({ text }) =>
        /expect\([^;]*\.(every|some)\([^;]*\)\)\.toBe\((true|false)\)/.test(text),
      )
      .map(({ path }) => path);
    expect(bare).toEqual([]);
  });

  it("builds signed-call clients only in the composition root", () => {
    const builders = sourceFiles(SRC)
      .map((path) => moduleOf(path))
      .filter((module) => !module.startsWith("cloud/") && module !== "composition-root")
      .filter((module) =>
        readFileSync(join(SRC, `${module}.ts`), "utf8").includes("createSignedClient"),
      );
    expect(builders).toEqual([]);
  });

  it("keeps state per warm instance in the composition root, not in modules", () => {
    // A module-level `let`, Map or WeakMap lives as long as the process, shared by every instance
    // a test or a runner builds. The one allowed: the loader's files of the build run so far,
    // which are the process's as Node's own module cache is.
    const allowed = new Set(["loader"]);
    const stateful = sourceFiles(SRC)
      .map((path) => moduleOf(path))
      .filter((module) => !module.startsWith("emulator/") && !allowed.has(module))
      .filter((module) =>
        /^(let |const \w+ = new (Map|WeakMap)\b)/m.test(
          readFileSync(join(SRC, `${module}.ts`), "utf8"),
        ),
      );
    expect(stateful).toEqual([]);
  });

  it("has no function longer than 80 lines outside the emulator", () => {
    const long = sourceFiles(SRC)
      .filter((path) => !moduleOf(path).startsWith("emulator/"))
      .flatMap((path) => longFunctions(moduleOf(path), readFileSync(path, "utf8")));
    expect(long).toEqual([]);
  });
});
