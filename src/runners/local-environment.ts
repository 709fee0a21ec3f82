import { ConfigError, loadConfig } from "../config";
import { startEmbeddedBackendIfUnconfigured } from "../emulator/embedded";
import type { HssEmulator } from "../emulator/hss-emulator";
import { queueBackendOf } from "../queue/backends";

/**
 * Prepares the environment of the local tools (`npm start`, `invoke`) for the one-command local
 * experience: the embedded HSS emulator when no endpoint is configured (so the whole path,
 * mapping, signing, request and report, works without a cloud account), webhook authentication
 * off when no secret is configured (the local endpoint listens on loopback only), and the
 * in-process scan queue when SCAN_QUEUE is not set (so a burst of pushes is coalesced within
 * HSS's rate limit, as a deployment with a queue does). Each is said on stderr.
 */
export async function prepareLocalEnvironment(
  env: NodeJS.ProcessEnv,
  say: (line: string) => void,
): Promise<HssEmulator | undefined> {
  if (!env.WEBHOOK_SECRET?.trim() && !env.WEBHOOK_AUTH?.trim()) {
    env.WEBHOOK_AUTH = "none";
    say(
      "no WEBHOOK_SECRET set: webhook authentication is off for this local run (set WEBHOOK_SECRET to try it)",
    );
  }
  if (!env.SCAN_QUEUE?.trim()) {
    env.SCAN_QUEUE = "memory";
    say(
      "no SCAN_QUEUE set: using the in-process scan queue (not durable; set SCAN_QUEUE=redis://… to share one between processes)",
    );
  }
  return startEmbeddedBackendIfUnconfigured(env, say);
}

/**
 * Every problem of the configuration as it stands (`VARIABLE: what is wrong`), or undefined when
 * it is valid: a local tool refuses to start on a configuration the function would refuse.
 */
export function configurationProblems(env: NodeJS.ProcessEnv): readonly string[] | undefined {
  try {
    const config = loadConfig(env);
    // Which backend takes SCAN_QUEUE, and whether the value suits it, is the registry's to say.
    if (config.queue.url) queueBackendOf(config.queue.url);
    return undefined;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.problems;
  }
}

/** The problems for a person: one per line, and where every variable is described. */
export function describeProblems(problems: readonly string[]): string {
  return [
    `the configuration is not valid (${problems.length} problem${problems.length === 1 ? "" : "s"}):`,
    ...problems.map((problem) => `  - ${problem}`),
    "every variable: docs/configuration.md",
  ].join("\n");
}
