import type { Ignores } from "../images/ignore-file";
import type { Logger } from "../log";
import type { Notifier } from "../notify/notifier";
import type { WatchStore } from "../queue/scan-queue";
import { exceptedKey, parseCarriers } from "./new-findings";

/**
 * An exception about to end is said before it does: each entry of the exceptions file that ends
 * within ANNOUNCE_DAYS is logged once (`exception_ending`), and each image seen carrying the
 * finding it accepts (at most 20 an id) gets one alert on its routes. Once it has ended, the finding is new
 * again at the image's next look, and alerted as such (new-findings.ts).
 */

export const ANNOUNCE_DAYS = 7;

export async function announceEndingExceptions(options: {
  ignores: Ignores;
  store: Pick<WatchStore, "kept" | "once">;
  notifier?: Notifier;
  log: Logger;
  today?: string;
}): Promise<number> {
  const { ignores, store, log } = options;
  let announced = 0;
  const ttlMs = (ANNOUNCE_DAYS + 2) * 86_400_000;
  for (const entry of ignores.endingWithin(ANNOUNCE_DAYS, options.today)) {
    const key = `exception-ending:${entry.id}:${entry.image ?? "*"}:${entry.package ?? "*"}:${entry.until}`;
    const carriers = parseCarriers(await store.kept(exceptedKey(entry.id))).filter((carrier) =>
      ignores.accepts(
        entry,
        `${carrier.namespace}/${carrier.image_name}:${carrier.image_version}`,
        carrier.package,
      ),
    );
    if (await store.once(key, ttlMs)) {
      log.info("exception_ending", {
        id: entry.id,
        until: entry.until,
        ...(entry.owner ? { owner: entry.owner } : {}),
        ...(entry.image ? { image: entry.image } : {}),
        reason: entry.reason,
        images: carriers.map((carrier) => carrier.image),
      });
    }
    // Each image seen carrying it is told once, also one seen after the first announcement.
    for (const carrier of carriers) {
      if (!(await store.once(`${key}:${carrier.image}`, ttlMs))) continue;
      announced += 1;
      const { package: _package, repair_necessity: _necessity, ...image } = carrier;
      const finding = {
        ...image,
        severity_level: "Security",
        vul_num: 1,
        malicious_file_num: 0,
        unsafe_setting_num: 0,
      };
      await options.notifier?.notifyEnding(finding, entry, carrier);
    }
  }
  return announced;
}
