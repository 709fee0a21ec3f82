import type { ListPage, ListRegistryImagesQuery, RegistryImage } from "../hss/apis";
import type { Watch, WatchStore } from "../queue/scan-queue";
import {
  type CallsState,
  CLOCK_SKEW_MS,
  LIST_PAGE,
  ListCalls,
  type LookupOptions,
  reachedEnd,
  refKey,
  registryOf,
} from "./lookup";

/**
 * What became of each watched image, read from HSS's list (ListRegistryImages) at a cost that
 * grows with what changed in HSS since the last look (scans that finished, tags new to HSS),
 * never with the size of the registry. For each registry (image type and, for SWR Enterprise,
 * instance):
 *
 * - a lone watched image is looked up by its exact name (one call);
 * - **finished**: the images whose latest scan ended since the earliest position of the watches,
 *   oldest first (`start_latest_scan_time`, sorted by `latest_scan_time` ascending), each watch
 *   keeping where the listing got to (`finished_from`: a time, and how many items at that time
 *   were read), so that a listing cut short resumes there and the next check reads only scans
 *   that ended since. A watched image absent from it, read to its end, has no result yet: running;
 * - **new to HSS**: for images waiting for a sync, and images HSS has not been seen to list since
 *   their scan was asked for, the never-scanned images synced since (`scan_status=unscan`,
 *   `start_latest_sync_time`; namespace and name too when they all share them), which hold the
 *   tags new to HSS whether a sync stamps every image or only new ones. A candidate absent from
 *   it, read to its end, is not listed. Its place (an offset, with the query) is kept beside the
 *   watches, shared by every instance, so that a listing cut short resumes where it stopped;
 * - **exactly**, at most EXACT_PER_CHECK: an image whose scan gave no result for `staleMs` (a tag
 *   HSS scanned before and that was pushed again, whose request HSS dropped), and an image about to
 *   be given up as not synced.
 *
 * A registry's check starts only when the budget has a call for each list it reads, and every call
 * takes a slot of the list API's budget first; when none is left, or a call fails, what was not
 * read is not concluded on (the watch is "not checked", due when a slot frees).
 */

/** Images looked up by their exact name per registry per check, at most. */
export const EXACT_PER_CHECK = 2;

/** How far the finished listing was read for a watch: scans that ended before `time`, and the first `skip` at `time`. */
export interface ListingPosition {
  time: number;
  skip: number;
}

export type Sighting =
  /** HSS's record of the image. */
  | { kind: "listed"; item: RegistryImage }
  /** HSS lists no record of it (synced since, for an image waiting for a sync). */
  | { kind: "unlisted" }
  /** Listed before, and no scan of it has ended since its request. */
  | { kind: "running" };

/** What one registry's check cost, as `flush_done` logs it. */
export interface RegistryCheck {
  registry: string;
  images: number;
  calls: number;
  finished?: { pages: number; items: number };
  fresh?: { pages: number; items: number };
  exact?: number;
}

export interface WatchLookup extends CallsState {
  /** By `refKey`; absent: not looked at this time. */
  sightings: Map<string, Sighting>;
  /** What each watch keeps of this check: the finished listing's place, an exact look's time. */
  progress: Map<string, Pick<Watch, "finished_from" | "looked_at" | "checked_at">>;
  registries: RegistryCheck[];
}

export interface WatchLookupOptions extends LookupOptions {
  now: number;
  /** A scan with no result this long after its request is looked up exactly. */
  staleMs: number;
  /** HSS_SYNC_TIMEOUT_SECONDS: an image not listed this long after its sync is looked up exactly first. */
  syncTimeoutMs: number;
  /** Where the new-to-HSS listing's place is kept (beside the watches). */
  places: Pick<WatchStore, "kept" | "keep">;
  /** How long a listing's place is kept. */
  placeTtlMs: number;
}

/**
 * The new-to-HSS listing's place: its query, the items read of it, and how many of those were
 * watched images. Those leave the list once they are scanned (they are put back on the queue), so
 * the next check goes on that many items sooner: it may read a few again, never skip one.
 */
interface FreshPlace {
  start: number;
  namespace?: string;
  image_name?: string;
  offset: number;
  found: number;
}

interface Turn {
  calls: ListCalls<WatchLookup>;
  stats: RegistryCheck;
  base: ListRegistryImagesQuery;
  options: WatchLookupOptions;
}

const sighted = (turn: Turn, watch: Watch) => turn.calls.result.sightings.has(refKey(watch));
const see = (turn: Turn, watch: Watch, sighting: Sighting) =>
  turn.calls.result.sightings.set(refKey(watch), sighting);

const positionOf = (watch: Watch): ListingPosition =>
  watch.finished_from ?? { time: Math.max(0, watch.requested_at - CLOCK_SKEW_MS), skip: 0 };
const compare = (a: ListingPosition, b: ListingPosition) => a.time - b.time || a.skip - b.skip;

/** When the image was last known not to be listed, or asked to be scanned. */
const sinceOf = (watch: Watch) => (watch.state === "syncing" ? watch.since : watch.requested_at);

async function page(turn: Turn, query: ListRegistryImagesQuery, into: "finished" | "fresh") {
  const answer = await turn.calls.call({ ...turn.base, ...query });
  if (!answer) return undefined;
  turn.stats.calls += 1;
  const stats = turn.stats[into] ?? { pages: 0, items: 0 };
  turn.stats[into] = stats;
  stats.pages += 1;
  stats.items += answer.received;
  return answer;
}

/** A watch's image within its registry (the query names the registry). */
const nameOf = (namespace: string, imageName: string, version: string) =>
  JSON.stringify([namespace, imageName, version]);

/** The watches of a registry by their image's name there. */
function byName(watches: Watch[]): Map<string, Watch> {
  return new Map(
    watches.map((watch) => [
      nameOf(watch.target.namespace, watch.target.image_name, watch.target.image_version),
      watch,
    ]),
  );
}

/** Each watch's record in a page, when it is of that image (and instance, when it says one). */
function recordsIn(answer: ListPage<RegistryImage>, watches: Map<string, Watch>) {
  const found: Array<[Watch, RegistryImage]> = [];
  for (const item of answer.data_list) {
    if (!item.namespace || !item.image_name || !item.image_version) continue;
    const watch = watches.get(nameOf(item.namespace, item.image_name, item.image_version));
    if (!watch) continue;
    const instance = watch.target.instance_id;
    if (instance && item.instance_id && item.instance_id !== instance) continue;
    found.push([watch, item]);
  }
  return found;
}

/**
 * The scans that ended since the watches' earliest place, oldest first, to the end of the list
 * or as far as the calls go (leaving `spare` calls for the list of new tags); every watch not
 * found keeps the place reached. True when read to the end.
 */
async function finishedSince(turn: Turn, watches: Watch[], spare: number): Promise<boolean> {
  const start = watches.map(positionOf).sort(compare)[0] as ListingPosition;
  const named = byName(watches);
  let reached = { ...start };
  let offset = start.skip;
  let complete = false;
  // Its pages leave `spare` calls of the budget free now, for the list that follows.
  const free = (await turn.options.budget.check("list-images")).remaining;
  const allowed = Math.max(1, Math.min(Math.ceil(watches.length / LIST_PAGE) + 1, free - spare));
  for (let pages = 0; pages < allowed; pages++) {
    const answer = await page(
      turn,
      {
        start_latest_scan_time: start.time,
        sort_key: "latest_scan_time",
        sort_dir: "asc",
        offset,
      },
      "finished",
    );
    if (!answer) break;
    for (const [watch, item] of recordsIn(answer, named)) {
      // A scan that ended before this request is an earlier one's.
      if ((item.latest_scan_time ?? 0) >= watch.requested_at - CLOCK_SKEW_MS) {
        see(turn, watch, { kind: "listed", item });
      }
    }
    reached = placeAfter(answer, reached);
    offset += answer.received;
    const end = reachedEnd(answer, offset);
    if (end === undefined) break;
    if (end) {
      complete = true;
      break;
    }
  }
  for (const watch of watches) {
    if (sighted(turn, watch)) continue;
    const own = positionOf(watch);
    const progress = turn.calls.result.progress.get(keyOf(watch)) ?? {};
    progress.finished_from = compare(reached, own) > 0 ? reached : own;
    turn.calls.result.progress.set(keyOf(watch), progress);
  }
  return complete;
}

/**
 * The place after a page of the finished listing (sorted by scan time): the time of its last
 * record, and how many records at that time were read from the listing's start. An item that
 * says no time (a thin answer) is not counted: the place lies before it, and it is read again.
 */
function placeAfter(answer: ListPage<RegistryImage>, reached: ListingPosition): ListingPosition {
  let place = { ...reached };
  for (const item of answer.data_list) {
    const time = item.latest_scan_time;
    if (typeof time !== "number" || time < place.time) continue;
    place = time === place.time ? { time, skip: place.skip + 1 } : { time, skip: 1 };
  }
  return place;
}

const keyOf = (watch: Watch) => refKey(watch);

/** The never-scanned images synced since the candidates' earliest time; true when read to the end. */
async function newToHss(turn: Turn, candidates: Watch[]): Promise<boolean> {
  const { options } = turn;
  const start = Math.max(0, Math.min(...candidates.map(sinceOf)) - CLOCK_SKEW_MS);
  const [first] = candidates;
  const namespace = candidates.every((w) => w.target.namespace === first?.target.namespace)
    ? first?.target.namespace
    : undefined;
  const imageName =
    namespace !== undefined &&
    candidates.every((w) => w.target.image_name === first?.target.image_name)
      ? first?.target.image_name
      : undefined;
  const placeKey = `listing:new:${turn.stats.registry}`;
  const kept = parsePlace(await options.places.kept(placeKey));
  const covers =
    kept !== undefined &&
    kept.start <= start &&
    (kept.namespace === undefined || kept.namespace === namespace) &&
    (kept.image_name === undefined || kept.image_name === imageName);
  const place: FreshPlace =
    kept && covers
      ? { ...kept, offset: Math.max(0, kept.offset - kept.found), found: 0 }
      : {
          start,
          offset: 0,
          found: 0,
          ...(namespace !== undefined ? { namespace } : {}),
          ...(imageName !== undefined ? { image_name: imageName } : {}),
        };
  const named = byName(candidates);
  const allowed = Math.ceil(candidates.length / LIST_PAGE) + 1;
  for (let pages = 0; pages < allowed; pages++) {
    const answer = await page(
      turn,
      {
        scan_status: "unscan",
        start_latest_sync_time: place.start,
        ...(place.namespace !== undefined ? { namespace: place.namespace } : {}),
        ...(place.image_name !== undefined ? { image_name: place.image_name } : {}),
        offset: place.offset,
      },
      "fresh",
    );
    if (!answer) break;
    for (const [watch, item] of recordsIn(answer, named)) {
      see(turn, watch, { kind: "listed", item });
      place.found += 1;
    }
    place.offset += answer.received;
    const end = reachedEnd(answer, place.offset);
    if (end === undefined) break;
    if (end) {
      await options.places.keep(placeKey, undefined, 0);
      return true;
    }
  }
  // Cut short: the next check goes on from here, less what was found (a candidate that came in
  // since, and sorts before it, is found in the listing after this one).
  await options.places.keep(placeKey, JSON.stringify(place), options.placeTtlMs);
  return false;
}

function parsePlace(text: string | undefined): FreshPlace | undefined {
  if (!text) return undefined;
  try {
    const place = JSON.parse(text) as FreshPlace;
    return typeof place.start === "number" &&
      typeof place.offset === "number" &&
      typeof place.found === "number"
      ? place
      : undefined;
  } catch {
    return undefined;
  }
}

/** One exact call for an image: its record, or that HSS does not list it. */
async function exactly(turn: Turn, watch: Watch): Promise<boolean> {
  const answer = await turn.calls.call({
    ...turn.base,
    namespace: watch.target.namespace,
    image_name: watch.target.image_name,
    image_version: watch.target.image_version,
  });
  if (!answer) return false;
  turn.stats.calls += 1;
  turn.stats.exact = (turn.stats.exact ?? 0) + 1;
  const progress = turn.calls.result.progress.get(keyOf(watch)) ?? {};
  progress.looked_at = turn.options.now;
  turn.calls.result.progress.set(keyOf(watch), progress);
  const [record] = recordsIn(answer, byName([watch]));
  if (record) see(turn, watch, { kind: "listed", item: record[1] });
  else if (reachedEnd(answer, answer.received)) see(turn, watch, { kind: "unlisted" });
  return true;
}

/** The watches worth an exact look now, the longest waiting first. */
function dueForExactLook(turn: Turn, watches: Watch[]): Watch[] {
  const { now, staleMs, syncTimeoutMs } = turn.options;
  const { sightings } = turn.calls.result;
  return watches
    .filter((watch) => {
      const kind = sightings.get(keyOf(watch))?.kind;
      const lastLook = watch.looked_at ?? 0;
      if (kind === "running") return now - Math.max(watch.requested_at, lastLook) > staleMs;
      // About to be given up as not synced: once more, exactly, first.
      return (
        kind === "unlisted" &&
        watch.state === "syncing" &&
        now - watch.since > syncTimeoutMs &&
        lastLook < watch.since + syncTimeoutMs
      );
    })
    .sort(
      (a, b) =>
        Math.max(a.requested_at, a.looked_at ?? 0) - Math.max(b.requested_at, b.looked_at ?? 0),
    );
}

async function checkRegistry(turn: Turn, watches: Watch[]): Promise<void> {
  const { sightings } = turn.calls.result;
  if (watches.length === 1) {
    await exactly(turn, watches[0] as Watch);
    return;
  }
  // A check starts only when the budget has a call for each list it reads: one started on a
  // single free slot would read the list of finished scans and never reach the new tags. What
  // a list needs beyond its first page it reads as far as the calls go, and goes on from there.
  const maybeNew = watches.some((watch) => watch.state === "syncing" || watch.listed !== true);
  // Images no scan was asked for (HSS did not list them when flushed) have no scan of their own
  // to end: the list of ended scans is read for a registry with a scan requested. An image
  // waiting for a sync after a request may have been scanned meanwhile: that list is read then.
  const scanning = watches.some((watch) => watch.state !== "syncing" || !watch.unrequested);
  if (!(await turn.calls.afford((scanning ? 1 : 0) + (maybeNew ? 1 : 0)))) {
    turn.calls.result.stopped = "budget";
    return;
  }
  const finishedRead = scanning ? await finishedSince(turn, watches, maybeNew ? 1 : 0) : true;
  // Candidates for "new to HSS": waiting for a sync, or not seen listed since their request.
  const candidates = watches.filter(
    (watch) => !sighted(turn, watch) && (watch.state === "syncing" || watch.listed !== true),
  );
  const freshRead = candidates.length === 0 || (await newToHss(turn, candidates));
  if (finishedRead) {
    for (const watch of watches) {
      if (sighted(turn, watch)) continue;
      if (!candidates.includes(watch)) see(turn, watch, { kind: "running" });
      else if (freshRead) see(turn, watch, { kind: "unlisted" });
    }
  }
  const exact = dueForExactLook(turn, watches);
  for (const watch of exact.slice(0, EXACT_PER_CHECK)) {
    if (!(await exactly(turn, watch))) break;
  }
  // Not given up on without that exact look: not concluded this time.
  for (const watch of exact.slice(EXACT_PER_CHECK)) {
    if (watch.state === "syncing" && sightings.get(keyOf(watch))?.kind === "unlisted") {
      sightings.delete(keyOf(watch));
    }
  }
}

export async function lookUpWatches(
  watches: Watch[],
  options: WatchLookupOptions,
): Promise<WatchLookup> {
  const calls = new ListCalls<WatchLookup>(
    { sightings: new Map(), progress: new Map(), calls: 0, registries: [] },
    options,
  );
  const registries = new Map<string, Watch[]>();
  for (const watch of watches) {
    const registry = registryOf(watch);
    registries.set(registry, [...(registries.get(registry) ?? []), watch]);
  }
  // The registry that has waited longest for a check goes first (a watch never checked has
  // waited since it was watched): when the budget runs out, the next check is another's turn.
  const lastChecked = (group: Watch[]) =>
    Math.min(...group.map((watch) => watch.checked_at ?? watch.watched_at));
  const order = [...registries].sort(([, a], [, b]) => lastChecked(a) - lastChecked(b));
  for (const [registry, group] of order) {
    const [first] = group;
    if (!first || calls.result.stopped) break;
    const stats: RegistryCheck = { registry, images: group.length, calls: 0 };
    calls.result.registries.push(stats);
    const base: ListRegistryImagesQuery = {
      image_type: first.image_type,
      ...(first.target.instance_id ? { instance_id: first.target.instance_id } : {}),
    };
    await checkRegistry({ calls, stats, base, options }, group);
    if (stats.calls === 0) continue;
    for (const watch of group) {
      const progress = calls.result.progress.get(refKey(watch)) ?? {};
      progress.checked_at = options.now;
      calls.result.progress.set(refKey(watch), progress);
    }
  }
  return calls.result;
}
