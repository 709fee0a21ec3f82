import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUNDLE_FILE, CODE_CACHE_DIGEST_BYTES, CODE_CACHE_FILE } from "../src/bundle-files";
import { emulatorEnvironment, startHssEmulator } from "../src/emulator/hss-emulator";
import { buildReference } from "./build";
import { quantile } from "./support/statistics";

/**
 * `npm run cold-phases`: where a cold start's time goes, step by step, for the built function and
 * for the reference function (scripts/reference-function.ts) loaded the same way, in fresh
 * Node.js processes against a loopback HSS emulator: reading the bundle and its code cache,
 * hashing it, compiling it from the cache, running its top level, then the first push split at the
 * HSS call (the handler until the request leaves, the request until HSS's answer, the answer until
 * the handler is done). Medians of COLD_PHASES_RUNS (20) runs each, interleaved in a turning
 * order. Run `npm run build` first (npm run cold-phases does). COLD_PHASES_BASELINE=<another build's dist folder> times
 * that build too, in the same runs, for a before/after comparison step by step.
 */

const root = join(__dirname, "..");
const RUNS = Number(process.env.COLD_PHASES_RUNS ?? 20);
const BASELINE = process.env.COLD_PHASES_BASELINE;
const pushEvent = readFileSync(join(root, "events", "apig-swr-ee-push.json"), "utf8").trim();
const context = `{ getRequestID: () => "phases", getRemainingTimeInMilliSeconds: () => 30000 }`;

const STEPS = [
  "read the bundle and its cache",
  "hash the bundle",
  "compile it from the cache",
  "run its top level",
  "push: until the HSS request leaves",
  "push: the request until HSS answers",
  "push: the answer until the handler is done",
];

/** A process that loads the bundle in `folder` as src/loader.ts does and prints each step's ms. */
const probeOf = (folder: string) => `
const http = require("node:http");
const { createHash } = require("node:crypto");
const { readFileSync } = require("node:fs");
const { Script } = require("node:vm");
const at = { sent: 0n, answered: 0n };
const request = http.request;
http.request = function (...args) {
  at.sent = process.hrtime.bigint();
  return request.apply(this, args).on("response", () => { at.answered = process.hrtime.bigint(); });
};
const t = [process.hrtime.bigint()];
const source = readFileSync(${JSON.stringify(join(folder, BUNDLE_FILE))});
const cache = readFileSync(${JSON.stringify(join(folder, CODE_CACHE_FILE))});
t.push(process.hrtime.bigint());
if (!createHash("sha256").update(source).digest().equals(cache.subarray(0, ${CODE_CACHE_DIGEST_BYTES}))) throw new Error("stale cache");
t.push(process.hrtime.bigint());
const script = new Script(source.toString("utf8"), { filename: ${JSON.stringify(join(folder, BUNDLE_FILE))}, cachedData: cache.subarray(${CODE_CACHE_DIGEST_BYTES}) });
if (script.cachedDataRejected) throw new Error("cache rejected");
t.push(process.hrtime.bigint());
const bundle = { exports: {} };
script.runInThisContext()(bundle.exports, require, bundle, ${JSON.stringify(join(folder, BUNDLE_FILE))}, ${JSON.stringify(folder)});
t.push(process.hrtime.bigint());
bundle.exports.handler(${pushEvent}, ${context}).then((answer) => {
  const done = process.hrtime.bigint();
  if (answer.statusCode !== 202) throw new Error("answered " + answer.statusCode);
  const ms = (from, to) => Number(to - from) / 1e6;
  process.stdout.write(JSON.stringify([ms(t[0], t[1]), ms(t[1], t[2]), ms(t[2], t[3]), ms(t[3], t[4]), ms(t[4], at.sent), ms(at.sent, at.answered), ms(at.answered, done)]));
});
`;

function run(script: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", script], { env });
    let output = "";
    let errors = "";
    child.stdout.on("data", (chunk) => {
      output += chunk;
    });
    child.stderr.on("data", (chunk) => {
      errors += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve(output) : reject(new Error(`exited ${code}: ${errors}`)),
    );
  });
}

async function main() {
  const emulator = await startHssEmulator({ rateLimit: false });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    ...emulatorEnvironment(emulator),
    WEBHOOK_SECRET: "sample-webhook-secret-change-me",
    LOG_LEVEL: "error",
  };
  try {
    const reference = mkdtempSync(join(tmpdir(), "cold-phases-reference-"));
    await buildReference(reference);
    const columns: Array<[string, string]> = [
      ["product", join(root, "dist")],
      ...(BASELINE ? [["baseline", BASELINE] as [string, string]] : []),
      ["reference", reference],
    ];
    const samples = columns.map((): number[][] => []);
    // In an order that turns by one each run, so that no build always runs after the same one.
    for (let i = 0; i < RUNS + 2; i++) {
      for (let j = 0; j < columns.length; j++) {
        const k = (i + j) % columns.length;
        const steps = JSON.parse(await run(probeOf(columns[k]?.[1] as string), env)) as number[];
        if (i >= 2) samples[k]?.push(steps); // the first two runs warm the file cache
      }
    }
    const rows = STEPS.map(
      (step, k) =>
        [
          step,
          samples.map((runs) =>
            quantile(
              runs.map((steps) => steps[k] ?? 0),
              0.5,
            ),
          ),
        ] as const,
    );
    const width = Math.max(...STEPS.map((step) => step.length));
    const line = (label: string, values: number[]) =>
      `${label.padEnd(width)}${values.map((value, k) => value.toFixed(2).padStart(Math.max(9, (columns[k]?.[0].length ?? 0) + 2))).join("")}\n`;
    process.stdout.write(
      `cold start by step, medians of ${RUNS} (ms) — Node.js ${process.version}\n\n${"step".padEnd(width)}${columns.map(([name]) => name.padStart(Math.max(9, name.length + 2))).join("")}\n`,
    );
    for (const [step, values] of rows) process.stdout.write(line(step, values));
    process.stdout.write(
      line(
        "total",
        columns.map((_, k) => rows.reduce((total, [, values]) => total + (values[k] ?? 0), 0)),
      ),
    );
  } finally {
    await emulator.close();
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
