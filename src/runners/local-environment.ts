import { startEmbeddedBackendIfUnconfigured } from "../emulator/embedded";
import type { HssEmulator } from "../emulator/hss-emulator";

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
