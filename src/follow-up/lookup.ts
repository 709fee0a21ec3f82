import { classifyFailure, type SignedCallError, toSignedCallError } from "../cloud/signed-client";
import type { HssApiClient, ListPage, ListRegistryImagesQuery, RegistryImage } from "../hss/apis";
import type { CallBudget } from "../hss/call-budget";
import { type ImageType, type ScanTarget, targetKey } from "../images/scan-target";

/**
 * Finds images in HSS's own list (ListRegistryImages) at a cost that grows with the images looked
 * for, not with the namespaces they are in. Images are grouped by registry (their image type and,
 * for SWR Enterprise, their instance), and each registry is asked:
 * - for a lone image: one exact call (namespace, name and tag as filters);
 * - for more: the registry's list, newest scans first, so that images just scanned are on the
 *   first page, paged only until every image looked for is found; listed to the end without one,
 *   HSS does not list it. Images waiting for a sync (`syncedSince`) are looked for apart, among the
 *   images whose latest sync ended since then (`start_latest_sync_time`), where a registry's
 *   freshly synced images are whatever the size of the registry.
 * Each registry gets ⌈images / 200⌉ + 1 calls at most. A registry that lists more than that can
 * page through is read as far as its first page (the newest scans), and the images not found there
 * are looked up exactly with the calls left, in the order given (the follow-up gives the
 * longest-due first); the rest wait for the next lookup. Each call takes a slot of the list API's budget first; when none is left, or a call
 * fails, what was not looked at is reported as not checked.
 */

export interface ImageRef {
  image_type: ImageType;
  target: ScanTarget;
  /**
   * Epoch ms: the image waits for a sync asked for then, and counts as listed only with a sync
   * ended since (HSS's clock may differ a little). Without it, any record counts.
   */
  syncedSince?: number;
}

export const refKey = (ref: Pick<ImageRef, "image_type" | "target">) =>
  JSON.stringify([ref.image_type, targetKey(ref.target)]);

/** What one registry's lookup cost. */
export interface RegistryLookup {
  /** `image_type` or `instance_image:<instance id>`. */
  registry: string;
  images: number;
  calls: number;
}

export interface LookupResult extends CallsState {
  /**
   * By `refKey`: HSS's record, or null when HSS does not list the image (with a sync ended since
   * `syncedSince`, for an image that has one). Absent: not checked.
   */
  found: Map<string, RegistryImage | null>;
  registries: RegistryLookup[];
}

export interface LookupOptions {
  hss: HssApiClient;
  budget: CallBudget;
  deadline: number;
  /** List calls this lookup may make at most (the budget permitting). */
  maxCalls?: number;
}

/** Images one ListRegistryImages call lists at most (its `limit` range is 1–200). */
export const LIST_PAGE = 200;
/** A registry's lone image is looked up by its exact name rather than by listing. */
const EXACT_AT_MOST = 1;
/** Time a list call needs at least before the deadline. */
const MIN_CALL_MS = 100;
/** HSS's clock and ours may differ a little: a sync this close before the request still counts. */
export const CLOCK_SKEW_MS = 5000;

/** The list calls a registry gets in one lookup for this many images. */
export const callsAllowed = (images: number) => Math.ceil(images / LIST_PAGE) + 1;

/** The record is of this image (and, for an image waiting for a sync, synced since). */
export function matches(item: RegistryImage, ref: ImageRef): boolean {
  const { target } = ref;
  return (
    item.namespace === target.namespace &&
    item.image_name === target.image_name &&
    item.image_version === target.image_version &&
    (!target.instance_id || !item.instance_id || item.instance_id === target.instance_id) &&
    (ref.syncedSince === undefined ||
      (item.latest_sync_time ?? 0) >= ref.syncedSince - CLOCK_SKEW_MS)
  );
}

export const registryOf = (ref: Pick<ImageRef, "image_type" | "target">) =>
  ref.image_type === "instance_image"
    ? `instance_image:${ref.target.instance_id ?? ""}`
    : ref.image_type;

/** What a series of list calls has spent, and why it stopped. */
export interface CallsState {
  calls: number;
  stopped?: "budget" | "deadline" | "error";
  retryAfterMs?: number;
  error?: SignedCallError;
}

/**
 * List calls (ListRegistryImages) within the deadline, the caller's cap and the budget: each takes
 * a slot first; the first failure, or the first call refused, stops the series. Its state is
 * kept in the result it was given.
 */
export class ListCalls<R extends CallsState> {
  constructor(
    readonly result: R,
    private readonly options: LookupOptions,
  ) {}

  /** One list call; undefined: stop. */
  async call(query: ListRegistryImagesQuery): Promise<ListPage<RegistryImage> | undefined> {
    const { options, result } = this;
    if (result.stopped) return undefined;
    if (options.deadline - Date.now() < MIN_CALL_MS) {
      result.stopped = "deadline";
      return undefined;
    }
    if (options.maxCalls !== undefined && result.calls >= options.maxCalls) {
      result.stopped = "budget";
      return undefined;
    }
    const slot = await options.budget.take("list-images");
    if (!slot.granted) {
      result.stopped = "budget";
      result.retryAfterMs = slot.retryAfterMs;
      return undefined;
    }
    result.calls += 1;
    try {
      return await options.hss.listRegistryImages({ ...query, limit: LIST_PAGE });
    } catch (error) {
      const failure = toSignedCallError(error);
      if (classifyFailure(failure) === "throttled") {
        await options.budget.spendWindow("list-images");
      }
      result.stopped = "error";
      result.error = failure;
      return undefined;
    }
  }

  /**
   * Whether the budget has `pages` calls free now (at most a window's worth): work that needs
   * them together starts only then. When not, says when a slot frees.
   */
  async afford(pages: number): Promise<boolean> {
    const { budget } = this.options;
    const state = await budget.check("list-images");
    const capacity = state.remaining + state.used;
    if (state.remaining >= Math.min(pages, Math.max(1, capacity))) return true;
    // Slots free one by one as the window rolls: the next is about a window/capacity away.
    this.result.retryAfterMs =
      state.remaining === 0
        ? state.retryAfterMs
        : Math.ceil(budget.windowMs / Math.max(1, capacity));
    return false;
  }
}

type Lookup = ListCalls<LookupResult>;

/** A registry's share of a lookup: its images, and the calls it may make. */
interface RegistryTurn {
  lookup: Lookup;
  stats: RegistryLookup;
  allowed: number;
  base: ListRegistryImagesQuery;
}

const callsLeft = (turn: RegistryTurn) => turn.allowed - turn.stats.calls;

async function callFor(turn: RegistryTurn, query: ListRegistryImagesQuery) {
  if (callsLeft(turn) <= 0) return undefined;
  const page = await turn.lookup.call({ ...turn.base, ...query });
  if (page) turn.stats.calls += 1;
  return page;
}

/** Records what a page lists of the images still missing. */
function take(page: ListPage<RegistryImage>, missing: Map<string, ImageRef>, turn: RegistryTurn) {
  for (const item of page.data_list) {
    for (const [key, ref] of missing) {
      if (!matches(item, ref)) continue;
      turn.lookup.result.found.set(key, item);
      missing.delete(key);
    }
  }
}

/** Whether paging has reached the end of the list; undefined when the answer contradicts itself. */
export function reachedEnd(page: ListPage<RegistryImage>, offset: number): boolean | undefined {
  const total = page.total_num;
  if (page.received < LIST_PAGE) {
    // A short page is the last, unless HSS says there is more (then nothing is concluded).
    return total === undefined || offset >= total ? true : undefined;
  }
  return total !== undefined && offset >= total;
}

/** One exact call for an image: its record, or null when HSS does not list it. */
async function exact(turn: RegistryTurn, key: string, ref: ImageRef): Promise<boolean> {
  const page = await callFor(turn, {
    namespace: ref.target.namespace,
    image_name: ref.target.image_name,
    image_version: ref.target.image_version,
  });
  if (!page) return false;
  const missing = new Map([[key, ref]]);
  take(page, missing, turn);
  if (missing.size > 0 && reachedEnd(page, page.received)) turn.lookup.result.found.set(key, null);
  return true;
}

/**
 * Pages through a listing until every image is found (the rest are then listed to the end
 * without being found: not listed) or the pages allowed run out. Returns how far it read.
 */
async function page(
  turn: RegistryTurn,
  missing: Map<string, ImageRef>,
  query: ListRegistryImagesQuery,
  maxPages: (first: ListPage<RegistryImage>) => number,
): Promise<"complete" | "short"> {
  let offset = 0;
  let allowedPages = Number.POSITIVE_INFINITY;
  for (let pages = 0; missing.size > 0 && pages < allowedPages; pages++) {
    const answer = await callFor(turn, { ...query, offset });
    if (!answer) return "short";
    if (pages === 0) allowedPages = maxPages(answer);
    take(answer, missing, turn);
    offset += answer.received;
    const end = reachedEnd(answer, offset);
    if (end === undefined) return "short";
    if (end) {
      for (const key of missing.keys()) turn.lookup.result.found.set(key, null);
      missing.clear();
      return "complete";
    }
  }
  return missing.size === 0 ? "complete" : "short";
}

/** The calls a listing may make, knowing from its first page how long it is. */
const pagesFor = (turn: RegistryTurn) => (first: ListPage<RegistryImage>) => {
  const possible = callsLeft(turn) + 1;
  // HSS may leave `total_num` out: a full first page then says only that there is more.
  if (first.total_num === undefined) return first.received < LIST_PAGE ? 1 : possible;
  // A listing that fits in the calls left is read to the end; a longer one only as far as its
  // first page, and the calls left go to exact lookups.
  const needed = Math.ceil(first.total_num / LIST_PAGE);
  return needed <= possible ? needed : 1;
};

const NEWEST_SCANS_FIRST = { sort_key: "latest_scan_time", sort_dir: "desc" } as const;
const waitsForSync = (ref: ImageRef) => ref.syncedSince !== undefined;

/** Looks up a registry's images: exactly when alone, by listing otherwise. */
async function lookUpRegistry(turn: RegistryTurn, refs: Map<string, ImageRef>): Promise<void> {
  const { found } = turn.lookup.result;
  if (refs.size <= EXACT_AT_MOST) {
    for (const [key, ref] of refs) if (!(await exact(turn, key, ref))) return;
    return;
  }
  // One listing answers for all the registry's images when it can be paged to the end (an image
  // waiting for a sync matches only with a sync since). Images waiting for a sync that it did not
  // reach, or all of them when nothing else is looked for, are looked for among the images whose
  // sync ended since then: a registry's freshly synced images, however large it is.
  const missing = new Map(refs);
  if ([...refs.values()].some((ref) => !waitsForSync(ref))) {
    await page(turn, missing, NEWEST_SCANS_FIRST, pagesFor(turn));
  }
  const syncing = new Map([...missing].filter(([, ref]) => waitsForSync(ref)));
  if (syncing.size > 0) {
    const since = Math.min(...[...syncing.values()].map((ref) => ref.syncedSince ?? 0));
    const syncedSince = { start_latest_sync_time: Math.max(0, since - CLOCK_SKEW_MS) };
    await page(turn, syncing, { ...NEWEST_SCANS_FIRST, ...syncedSince }, pagesFor(turn));
  }
  // What a long listing did not reach: exactly, in the order given, while calls are left.
  for (const [key, ref] of missing) {
    if (found.has(key)) continue;
    if (callsLeft(turn) <= 0 || !(await exact(turn, key, ref))) return;
  }
}

export async function lookUp(images: ImageRef[], options: LookupOptions): Promise<LookupResult> {
  const lookup: Lookup = new ListCalls({ found: new Map(), calls: 0, registries: [] }, options);
  const registries = new Map<string, Map<string, ImageRef>>();
  for (const image of images) {
    const registry = registryOf(image);
    const refs = registries.get(registry) ?? new Map<string, ImageRef>();
    refs.set(refKey(image), image);
    registries.set(registry, refs);
  }
  for (const [registry, refs] of registries) {
    const [first] = refs.values();
    if (!first || lookup.result.stopped) break;
    const stats: RegistryLookup = { registry, images: refs.size, calls: 0 };
    lookup.result.registries.push(stats);
    const base: ListRegistryImagesQuery = {
      image_type: first.image_type,
      ...(first.target.instance_id ? { instance_id: first.target.instance_id } : {}),
    };
    await lookUpRegistry({ lookup, stats, allowed: callsAllowed(refs.size), base }, refs);
  }
  return lookup.result;
}
