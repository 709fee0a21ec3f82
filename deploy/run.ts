import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * `npm run deploy -- <options>` and `npm run sls -- <command> <options>`: runs the Serverless
 * Framework (osls 3, pinned in deploy/package.json) on serverless.yml in the current folder, with
 * this repository's FunctionGraph provider. The deploy tools live in their own package (deploy/,
 * with its own lockfile), so that `npm ci`, the function's bundle and its cold start carry none of
 * them; the first run installs them (`npm ci` in deploy/), and again whenever that lockfile changes.
 * The exit status is the framework's.
 */

const DEPLOY_DIR = __dirname;
const LOCKFILE = join(DEPLOY_DIR, "package-lock.json");
const STAMP = join(DEPLOY_DIR, "node_modules", ".installed-lockfile-sha256");
const LOCK_DIR = join(DEPLOY_DIR, "node_modules.lock");
const OSLS = join(DEPLOY_DIR, "node_modules", "osls", "bin", "serverless.js");
/** How long a run waits for another one's install to finish (an install takes about 10-60 s). */
const INSTALL_WAIT_MS = 5 * 60_000;

function lockfileDigest(): string {
  return createHash("sha256").update(readFileSync(LOCKFILE)).digest("hex");
}

function installed(): boolean {
  return existsSync(OSLS) && existsSync(STAMP) && readFileSync(STAMP, "utf8") === lockfileDigest();
}

/** Installs deploy/'s dependencies unless the installed ones match its lockfile. */
export function ensureInstalled(): void {
  if (installed()) return;
  const deadline = Date.now() + INSTALL_WAIT_MS;
  // One install at a time (parallel test files, two terminals): the others wait for it.
  for (;;) {
    try {
      mkdirSync(LOCK_DIR);
      break;
    } catch {
      if (lockIsStale()) {
        rmSync(LOCK_DIR, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `another install of the deploy tools has held ${LOCK_DIR} for over ${INSTALL_WAIT_MS / 60_000} minutes; remove it if no install is running`,
        );
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
    }
  }
  try {
    if (installed()) return;
    process.stderr.write(
      "Installing the deploy tools into deploy/node_modules (osls 3 and Huawei Cloud's FunctionGraph SDK, from deploy/package-lock.json); once.\n",
    );
    const npm = process.platform === "win32" ? "npm.cmd" : "npm";
    const result = spawnSync(npm, ["ci", "--no-audit", "--no-fund", "--loglevel=error"], {
      cwd: DEPLOY_DIR,
      stdio: ["ignore", process.stderr, process.stderr],
    });
    if (result.status !== 0) {
      throw new Error(
        `npm ci in ${DEPLOY_DIR} failed (exit ${result.status ?? result.signal}): see above`,
      );
    }
    writeFileSync(STAMP, lockfileDigest());
  } finally {
    rmSync(LOCK_DIR, { recursive: true, force: true });
  }
}

function lockIsStale(): boolean {
  try {
    return Date.now() - statSync(LOCK_DIR).mtimeMs > INSTALL_WAIT_MS;
  } catch {
    return false;
  }
}

function main(args: string[]): void {
  const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
  if (major < 20 || (major === 20 && minor < 19)) {
    process.stderr.write(
      `The deploy tools (osls 3.77) need Node.js 20.19 or newer; this is ${process.versions.node}.\n`,
    );
    process.exit(1);
  }
  try {
    ensureInstalled();
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(1);
  }
  const child = spawn(process.execPath, [OSLS, ...args], { stdio: "inherit" });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => child.kill(signal));
  }
  child.on("exit", (code, signal) => {
    process.exit(code ?? (signal ? 1 : 0));
  });
}

if (require.main === module) {
  const args = process.argv.slice(2);
  // `--install-only`: what npm test runs first, so that its tests find the tools installed.
  if (args[0] === "--install-only") ensureInstalled();
  else main(args);
}
