import {
  type HssEmulator,
  type HssEmulatorOptions,
  startHssEmulator,
} from "../../src/emulator/hss-emulator";

/** The registry and instance the `scan` tests push to and name images on. */
export const SCAN_HOST = "swr-ee-prod.cn-north-4.myhuaweicloud.com";
export const SCAN_INSTANCE = "inst-ci";

/**
 * An HSS emulator that syncs and scans in about a second, whose registry holds team/api with
 * these tags (their words decide the findings: high, flaky, nofix, …).
 */
export async function emulatorWith(
  tags: string[],
  options: HssEmulatorOptions = {},
): Promise<HssEmulator> {
  const emulator = await startHssEmulator({
    timings: { syncMs: 300, scanStartMs: 100, scanMs: 600 },
    ...options,
  });
  for (const tag of tags) {
    emulator.push({
      image_type: "instance_image",
      namespace: "team",
      image_name: "api",
      image_version: tag,
      instance_id: SCAN_INSTANCE,
      host: SCAN_HOST,
    });
  }
  return emulator;
}
