import { emulatorEnvironment, type HssEmulator, startHssEmulator } from "./hss-emulator";

/** The SWR Enterprise instance id the embedded backend assumes when none is configured. */
export const LOCAL_INSTANCE_ID = "local-swr-ee-instance";

/**
 * The one-command local experience: when no HSS endpoint or region is configured, start the
 * local HSS emulator and point the configuration at it, so that `npm start` and `invoke` show
 * the whole path (mapping, signing, request, report) without a cloud account.
 * Returns undefined, and changes nothing, when a real endpoint or region is configured.
 */
/**
 * Prepares the environment of the local tools (`npm start`, `invoke`): the embedded HSS emulator
 * when no endpoint is configured, and webhook authentication off when no secret is configured,
 * since the local endpoint listens on loopback only. Both are said on stderr.
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
  return startEmbeddedBackendIfUnconfigured(env, say);
}

async function startEmbeddedBackendIfUnconfigured(
  env: NodeJS.ProcessEnv,
  say: (line: string) => void,
): Promise<HssEmulator | undefined> {
  if (env.HSS_ENDPOINT?.trim() || env.HSS_REGION?.trim()) return undefined;
  const emulator = await startHssEmulator({
    onRequest: (request) => {
      const body = request.body as { image_info_list?: unknown[] } | undefined;
      say(
        JSON.stringify({
          source: "hss-emulator",
          received: `${request.method} ${request.path}`,
          query: request.query,
          signature: request.signature.valid ? "valid" : `refused: ${request.signature.reason}`,
          answered: request.status,
          hss_request_id: request.requestId,
          images: body?.image_info_list ?? body,
        }),
      );
    },
  });
  if (env.CLOUD_SDK_AK)
    say("note: CLOUD_SDK_AK is ignored while the embedded HSS emulator is in use");
  const { HSS_REGION: _region, ...target } = emulatorEnvironment(emulator);
  Object.assign(env, target, {
    HSS_PROJECT_ID: env.HSS_PROJECT_ID || emulator.projectId,
    SWR_INSTANCE_ID: env.SWR_INSTANCE_ID || LOCAL_INSTANCE_ID,
  });
  say(
    `no HSS_REGION or HSS_ENDPOINT set: using the embedded HSS emulator at ${emulator.url} ` +
      "(it checks signatures and shows what it receives; nothing leaves this machine)",
  );
  return emulator;
}
