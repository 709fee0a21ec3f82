import type { Config } from "../config";
import { type ImageType, type ScanTarget, targetKey } from "../images/scan-target";
import type { Logger } from "../log";
import type {
  NewScan,
  QueueAdmin,
  QueueStores,
  RescanEntry,
  ScanIntake,
  ScanQueue,
} from "../queue/scan-queue";
import { loadGlobMatcher } from "../scan-policy";

/**
 * Which images are re-evaluated, and when (RESCAN_*): HSS does not rescan SWR images by itself,
 * and a vulnerability published after a push is found only by a new scan. Every push HSS accepted
 * whose tag matches RESCAN_TAGS joins the rescan set beside the queue, due RESCAN_EVERY_DAYS later
 * (with RESCAN_NEWEST, only each repository's newest N tags stay in it); it leaves the set
 * RESCAN_WITHIN_DAYS after its last push. A pass (the scheduled flush, or
 * `rescan --now`) queues the due images as rescans, after the pushes (only when nothing pushed is
 * waiting), at most RESCAN_MAX_PER_DAY a day (HSS charges each scan), through the same queue, budget
 * and follow-up as pushes.
 */

export type RescanSettings = Config["rescan"];

/** How long a day's count of rescans is kept: past the day, whatever the clocks. */
const SPENT_TTL_MS = 2 * 86_400_000;

export const rescanKeyOf = (imageType: ImageType, target: ScanTarget) =>
  JSON.stringify([imageType, targetKey(target)]);

const spentKey = (now: number) => `rescan-spent:${new Date(now).toISOString().slice(0, 10)}`;

/** The set's size, when its next image is due, and today's rescans against the cap. */
export async function rescanStatus(
  queue: Pick<ScanQueue, "rescans" | "watches">,
  settings: RescanSettings,
  now = Date.now(),
) {
  const [watched, next, spent] = await Promise.all([
    queue.rescans.count(),
    queue.rescans.nextDueAt(),
    queue.watches.kept(spentKey(now)),
  ]);
  return {
    watched,
    ...(next !== undefined ? { next_due_at: new Date(next).toISOString() } : {}),
    spent_today: Number(spent ?? 0),
    max_per_day: settings.maxPerDay,
  };
}

/**
 * Pushes HSS accepted join (or stay in) the rescan set; rescans themselves change nothing. With
 * RESCAN_NEWEST, each repository keeps only its newest N tags in the set (by push).
 */
export async function rememberForRescan(
  scans: readonly NewScan[],
  settings: RescanSettings,
  queue: Pick<ScanQueue, "rescans" | "watches">,
  now: number,
): Promise<void> {
  if (settings.everyMs <= 0) return;
  const tags = settings.tags?.length ? settings.tags : undefined;
  const matches = tags && loadGlobMatcher()(tags, { dot: true });
  const entries: RescanEntry[] = scans
    .filter((scan) => !scan.rescan && (!matches || matches(scan.target.image_version)))
    .map((scan) => ({
      id: rescanKeyOf(scan.image_type, scan.target),
      image_type: scan.image_type,
      target: scan.target,
      ...(scan.digest ? { digest: scan.digest } : {}),
      pushed_at: now,
    }));
  await queue.rescans.put(entries, settings.everyMs);
  if (settings.newest > 0) await keepNewest(entries, settings, queue);
}

const repositoryKeyOf = (entry: RescanEntry) =>
  `rescan-repo:${entry.image_type}:${entry.target.instance_id ?? ""}:${entry.target.namespace}/${entry.target.image_name}`;

/** Each repository's newest RESCAN_NEWEST tags stay in the set; older ones leave it. */
async function keepNewest(
  entries: readonly RescanEntry[],
  settings: RescanSettings,
  queue: Pick<ScanQueue, "rescans" | "watches">,
): Promise<void> {
  const byRepository = new Map<string, RescanEntry[]>();
  for (const entry of entries) {
    const key = repositoryKeyOf(entry);
    byRepository.set(key, [...(byRepository.get(key) ?? []), entry]);
  }
  for (const [key, pushed] of byRepository) {
    const kept = JSON.parse((await queue.watches.kept(key)) ?? "[]") as string[];
    const ids = pushed.map((entry) => entry.id);
    // Newest first: this push's tags, then those kept before (each once).
    const order = [...ids.reverse(), ...kept.filter((id) => !ids.includes(id))];
    await queue.watches.keep(
      key,
      JSON.stringify(order.slice(0, settings.newest)),
      settings.withinMs,
    );
    await queue.rescans.remove(order.slice(settings.newest));
  }
}

export interface RescanPass {
  queued: number;
  /** Entries dropped: no push within RESCAN_WITHIN_DAYS. */
  expired: number;
  spent_today: number;
  max_per_day: number;
  /** Why the pass queued nothing, when it did not. */
  held?: "pushes_waiting" | "cap_reached" | "nothing_due" | "off";
  next_due_at?: string;
}

/**
 * One pass: the due images (all of them when `force`, whatever their cadence) queued as rescans,
 * within the day's cap; at most `limit` (a scheduled flush queues a batch at a time, so the day's
 * rescans spread over its flushes).
 */
export async function rescanPass(options: {
  queue: ScanIntake & Pick<QueueAdmin, "counts"> & Pick<QueueStores, "rescans" | "watches">;
  settings: RescanSettings;
  dedupeWindowMs: number;
  limit: number;
  force?: boolean;
  log: Logger;
  now?: () => number;
}): Promise<RescanPass> {
  const { queue, settings, log } = options;
  const now = (options.now ?? Date.now)();
  const spent = Number((await queue.watches.kept(spentKey(now))) ?? 0);
  const pass: RescanPass = {
    queued: 0,
    expired: 0,
    spent_today: spent,
    max_per_day: settings.maxPerDay,
  };
  if (settings.everyMs <= 0) return { ...pass, held: "off" };
  if (!options.force && (await queue.counts()).pending > 0)
    return { ...pass, held: "pushes_waiting" };
  const allowance = Math.min(options.limit, settings.maxPerDay - spent);
  if (allowance <= 0) return { ...pass, held: "cap_reached" };
  const claimed = await queue.rescans.claimDue(
    allowance,
    settings.everyMs,
    options.force ? settings.everyMs : 0,
  );
  const live = claimed.filter((entry) => now - entry.pushed_at <= settings.withinMs);
  const expired = claimed.filter((entry) => now - entry.pushed_at > settings.withinMs);
  await queue.rescans.remove(expired.map((entry) => entry.id));
  pass.expired = expired.length;
  if (live.length > 0) {
    // Counted first: two instances never spend past the cap together.
    const total = await queue.watches.tally(spentKey(now), live.length, SPENT_TTL_MS);
    const over = Math.max(0, total - settings.maxPerDay);
    const taken = live.slice(0, live.length - over);
    if (over > 0) {
      await queue.watches.tally(spentKey(now), -over, SPENT_TTL_MS);
      await queue.rescans.put(live.slice(taken.length), 0);
    }
    await queue.enqueue(taken.map(rescanOf), options.dedupeWindowMs, { force: true });
    await queue.rescans.put(
      taken.map((entry) => ({ ...entry, rescanned_at: now })),
      settings.everyMs,
    );
    pass.queued = taken.length;
    pass.spent_today = total - over;
  }
  const next = await queue.rescans.nextDueAt();
  if (next !== undefined) pass.next_due_at = new Date(next).toISOString();
  if (pass.queued === 0 && pass.expired === 0) return { ...pass, held: "nothing_due" };
  log.info("rescan_queued", { ...pass });
  return pass;
}

function rescanOf(entry: {
  id: string;
  image_type: ImageType;
  target: ScanTarget;
  digest?: string;
}): NewScan {
  // Its own id: a rescan is not the push the dedupe window remembers.
  return {
    id: `rescan:${entry.id}`,
    image_type: entry.image_type,
    target: entry.target,
    ...(entry.digest ? { digest: entry.digest } : {}),
    rescan: true,
    listed: true,
  };
}
