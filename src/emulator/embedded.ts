import {
  emulatorEnvironment,
  type HssEmulator,
  type InstanceUrlCheck,
  startHssEmulator,
} from "./hss-emulator";

/** The SWR Enterprise instance id the embedded backend assumes when none is configured. */
export const LOCAL_INSTANCE_ID = "local-swr-ee-instance";

/**
 * The embedded HSS emulator, when neither HSS_ENDPOINT nor HSS_REGION is set: it is started, and
 * `env` is pointed at it. `quiet` leaves out the line per request (the `scan` command).
 */
export async function startEmbeddedBackendIfUnconfigured(
  env: NodeJS.ProcessEnv,
  say: (line: string) => void,
  options: { quiet?: boolean } = {},
): Promise<HssEmulator | undefined> {
  if (env.HSS_ENDPOINT?.trim() || env.HSS_REGION?.trim()) return undefined;
  const emulator = await startHssEmulator({
    // Nothing tells this emulator what was pushed: every image a scan request names is taken as
    // pushed to its registry then (and, like HSS, unknown until a sync).
    openRegistry: true,
    ...emulatorSwitchesOf(env),
    onRequest: (request) => {
      if (options.quiet && !process.env.EMULATOR_VERBOSE) return;
      const body = request.body as { image_info_list?: unknown[] } | undefined;
      // Its own JSON lines, in the shape of the function's, on stderr.
      process.stderr.write(
        `${JSON.stringify({
          time: new Date().toISOString(),
          level: "info",
          event: "hss_emulator_request",
          source: "hss-emulator",
          received: `${request.method} ${request.path}`,
          query: request.query,
          signature: request.signature.valid ? "valid" : `refused: ${request.signature.reason}`,
          answered: request.status,
          hss_request_id: request.requestId,
          images: body?.image_info_list ?? body,
        })}\n`,
      );
    },
  });
  if (env.CLOUD_SDK_AK)
    say("note: CLOUD_SDK_AK is ignored while the embedded HSS emulator is in use");
  const { HSS_REGION: _region, ...target } = emulatorEnvironment(emulator);
  Object.assign(env, target, {
    HSS_PROJECT_ID: env.HSS_PROJECT_ID || emulator.projectId,
    SWR_INSTANCE_ID: env.SWR_INSTANCE_ID || LOCAL_INSTANCE_ID,
    // The emulator syncs and scans in seconds: follow each scan at that pace.
    FOLLOW_UP_INTERVAL_SECONDS: env.FOLLOW_UP_INTERVAL_SECONDS || "5",
  });
  say(
    `no HSS_REGION or HSS_ENDPOINT set: using the embedded HSS emulator at ${emulator.url} ` +
      "(it checks signatures and shows what it receives; nothing leaves this machine)",
  );
  return emulator;
}

const URL_CHECKS: readonly InstanceUrlCheck[] = ["lenient", "ignore", "strict"];

/**
 * What the embedded emulator is told to play from the environment, to try the function against
 * an HSS that behaves otherwise (docs/development.md, "The embedded emulator"):
 * - EMULATOR_INSTANCE_URL_FORM: how it records an enterprise image's instance_url, e.g.
 *   `https://{host}` or `{host}/{namespace}/{image}`;
 * - EMULATOR_INSTANCE_URL_CHECK: `lenient` | `ignore` | `strict`, what a scan request with another
 *   instance_url gets;
 * - EMULATOR_RETIRED_APIS: comma-separated APIs it no longer serves (`batch-scan`).
 */
export function emulatorSwitchesOf(env: NodeJS.ProcessEnv) {
  const form = env.EMULATOR_INSTANCE_URL_FORM?.trim();
  const check = env.EMULATOR_INSTANCE_URL_CHECK?.trim() as InstanceUrlCheck | undefined;
  const retired = env.EMULATOR_RETIRED_APIS?.split(",")
    .map((api) => api.trim())
    .filter(Boolean);
  return {
    ...(form ? { instanceUrlForm: form } : {}),
    ...(check && URL_CHECKS.includes(check) ? { instanceUrlCheck: check } : {}),
    ...(retired?.length ? { retiredApis: retired } : {}),
  };
}
