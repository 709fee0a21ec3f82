import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * `npm run ignore-bench [-- 10000 1000000 …]`: what an ignore file of many entries costs the scan
 * gate: reading and checking it (parseIgnoreFile), indexing it (new Ignores), and judging 1,000
 * findings against it. Each entry has an image glob and an expiry, as a team's file would.
 * IGNORE_BENCH_MODULE measures another build of src/cli/ignore-file.ts (an older checkout's).
 */

interface IgnoreModule {
  parseIgnoreFile(text: string, file: string): unknown[];
  Ignores: new (entries: never[]) => { find(id: string, image: string): unknown };
}

const sizes = process.argv.slice(2).map(Number);
const modulePath =
  process.env.IGNORE_BENCH_MODULE ?? join(__dirname, "..", "src", "cli", "ignore-file");

async function main() {
  const { parseIgnoreFile, Ignores } = (await import(modulePath)) as IgnoreModule;
  const dir = mkdtempSync(join(tmpdir(), "ignore-bench-"));
  console.log("| entries | file | parse | index | 1,000 findings judged |");
  console.log("|---:|---:|---:|---:|---:|");
  for (const size of sizes.length > 0 ? sizes : [10_000, 100_000, 1_000_000]) {
    const lines = Array.from(
      { length: size },
      (_, i) =>
        `CVE-2026-${String(i).padStart(7, "0")}  image=team/api:v${i % 50}*  until=2099-01-31  # reviewed in change ${i}`,
    );
    const file = join(dir, `${size}.hssignore`);
    writeFileSync(file, lines.join("\n"));
    const text = readFileSync(file, "utf8");
    let started = performance.now();
    const entries = parseIgnoreFile(text, file);
    const parsed = performance.now() - started;
    started = performance.now();
    const ignores = new Ignores(entries as never[]);
    const indexed = performance.now() - started;
    started = performance.now();
    for (let i = 0; i < 1000; i++) {
      ignores.find(
        `CVE-2026-${String((i * 7919) % size).padStart(7, "0")}`,
        `team/api:v${i % 50}.1`,
      );
    }
    const judged = performance.now() - started;
    const mib = (Buffer.byteLength(text) / 1024 / 1024).toFixed(1);
    console.log(
      `| ${size.toLocaleString("en")} | ${mib} MiB | ${ms(parsed)} | ${ms(indexed)} | ${ms(judged)} |`,
    );
  }
}

const ms = (value: number) => `${Math.round(value).toLocaleString("en")} ms`;

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
