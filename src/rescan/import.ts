import { createHash } from "node:crypto";
import { failureFieldsOf, toSignedCallError } from "../cloud/signed-client";
import type { HssApiClient, RegistryImage } from "../hss/apis";
import type { ImageType, ScanTarget } from "../images/scan-target";
import type { Logger } from "../log";
import type { RescanEntry, ScanQueue } from "../queue/scan-queue";
import { loadGlobMatcher } from "../scan-policy";
import { type RescanSettings, rescanKeyOf } from "./rescan-set";

/**
 * RESCAN_FROM_HSS: images HSS lists that the function never saw pushed (pushed before it was
 * deployed, or through another way in) join the rescan set too. Each pass reads at most one page
 * (200) of ListRegistryImages per image type, of the images updated since where the last reading
 * ended (`start_latest_update_time`; the first reading goes RESCAN_WITHIN_DAYS back), within that
 * API's budget: the first readings cost a page per 200 images of the window, the later ones grow
 * with what changed. An image already in the set is left as it is; a new one is due at a point of
 * the period chosen by its id, so that a registry read at once is not rescanned at once.
 */

const TYPES: readonly ImageType[] = ["private_image", "instance_image"];
const PAGE = 200;
/** HSS's clock and ours, and whether its time filter includes its edge: read a little back. */
const OVERLAP_MS = 5000;

interface Cursor {
  since: number;
  offset: number;
  newest: number;
}

export async function importFromHss(options: {
  queue: ScanQueue;
  hss: () => Promise<HssApiClient>;
  settings: RescanSettings;
  log: Logger;
  now?: () => number;
}): Promise<number> {
  const { queue, settings, log } = options;
  const now = (options.now ?? Date.now)();
  let imported = 0;
  for (const imageType of TYPES) {
    const key = `rescan-import:${imageType}`;
    const kept = await queue.watches.kept(key);
    const start = now - settings.withinMs;
    const cursor: Cursor = kept
      ? (JSON.parse(kept) as Cursor)
      : { since: start, offset: 0, newest: start };
    const slot = await queue.budget.take("list-images");
    if (!slot.granted) break;
    let page: Awaited<ReturnType<HssApiClient["listRegistryImages"]>>;
    try {
      page = await (await options.hss()).listRegistryImages({
        image_type: imageType,
        start_latest_update_time: cursor.since,
        offset: cursor.offset,
        limit: PAGE,
      });
    } catch (error) {
      log.warn("rescan_import_failed", {
        image_type: imageType,
        ...failureFieldsOf(toSignedCallError(error)),
      });
      continue;
    }
    const entries = entriesOf(page.data_list, imageType, settings, now);
    const fresh = new Set(await queue.rescans.missing(entries.map((entry) => entry.id)));
    for (const entry of entries) {
      if (fresh.has(entry.id))
        await queue.rescans.put([entry], spreadOver(entry.id, settings.everyMs));
    }
    imported += fresh.size;
    const newest = Math.max(
      cursor.newest,
      ...page.data_list.map((item) => item.latest_update_time ?? 0),
    );
    const next: Cursor =
      page.received < PAGE
        ? { since: Math.max(start, newest - OVERLAP_MS), offset: 0, newest }
        : { ...cursor, offset: cursor.offset + page.received, newest };
    await queue.watches.keep(key, JSON.stringify(next), settings.withinMs);
  }
  if (imported > 0) log.info("rescan_imported", { images: imported });
  return imported;
}

/** The listed images the set takes (their tag matching RESCAN_TAGS), as HSS names them. */
function entriesOf(
  items: readonly RegistryImage[],
  imageType: ImageType,
  settings: RescanSettings,
  now: number,
): RescanEntry[] {
  const tags = settings.tags?.length ? settings.tags : undefined;
  const matches = tags && loadGlobMatcher()(tags, { dot: true });
  return items.flatMap((item) => {
    if (!item.namespace || !item.image_name || !item.image_version) return [];
    if (matches && !matches(item.image_version)) return [];
    const target: ScanTarget = {
      namespace: item.namespace,
      image_name: item.image_name,
      image_version: item.image_version,
      ...(item.instance_id ? { instance_id: item.instance_id } : {}),
      ...(item.instance_url ? { instance_url: item.instance_url } : {}),
    };
    return [
      {
        id: rescanKeyOf(imageType, target),
        image_type: imageType,
        target,
        ...(item.image_digest ? { digest: item.image_digest } : {}),
        pushed_at: item.latest_update_time ?? now,
      },
    ];
  });
}

/** A point of the period, the same for an id every time. */
function spreadOver(id: string, periodMs: number): number {
  const fraction = createHash("sha256").update(id).digest().readUInt32BE(0) / 0x1_0000_0000;
  return Math.round(fraction * periodMs);
}
