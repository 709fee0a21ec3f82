import type { HssApiClient, RegistryImage } from "../hss/apis";
import type { CallBudget } from "../hss/call-budget";
import { classifyFailure, type HssCallError, toHssCallError } from "../hss/client";
import { type ImageType, type ScanTarget, targetKey } from "../images/scan-target";

/**
 * Finds pushed images in HSS's own list (ListRegistryImages), with as few calls as the list
 * allows: one call for a lone image (filtered by its name and tag), one call per 200 images for
 * several in one namespace of one registry (sorted by latest scan time, newest first, so that
 * images just scanned come on the first page). Each call takes a slot of the list API's budget
 * first; when none is left, or a call fails, what was not looked at is reported as not checked.
 */

export interface ImageRef {
  image_type: ImageType;
  target: ScanTarget;
}

export const refKey = (ref: ImageRef) => JSON.stringify([ref.image_type, targetKey(ref.target)]);

export interface LookupResult {
  /** By `refKey`: HSS's record, or null when HSS does not list the image. Absent: not checked. */
  found: Map<string, RegistryImage | null>;
  /** Why some images were not checked. */
  stopped?: "budget" | "deadline" | "error";
  retryAfterMs?: number;
  error?: HssCallError;
  calls: number;
}

export interface LookupOptions {
  hss: HssApiClient;
  budget: CallBudget;
  deadline: number;
  /** Pages of 200 read per namespace at most, per lookup. */
  maxPages?: number;
  /** List calls this lookup may make at most (the budget permitting). */
  maxCalls?: number;
}

/** Images one ListRegistryImages call lists at most (its `limit` range is 1–200). */
export const LIST_PAGE = 200;
const DEFAULT_MAX_PAGES = 5;
/** Time a list call needs at least before the deadline. */
const MIN_CALL_MS = 100;

function matches(item: RegistryImage, ref: ImageRef): boolean {
  const { target } = ref;
  return (
    item.namespace === target.namespace &&
    item.image_name === target.image_name &&
    item.image_version === target.image_version &&
    (!target.instance_id || !item.instance_id || item.instance_id === target.instance_id)
  );
}

export async function lookUp(images: ImageRef[], options: LookupOptions): Promise<LookupResult> {
  const result: LookupResult = { found: new Map(), calls: 0 };
  const groups = new Map<string, ImageRef[]>();
  for (const image of images) {
    const key = JSON.stringify([
      image.image_type,
      image.target.instance_id ?? "",
      image.target.namespace,
    ]);
    groups.set(key, [...(groups.get(key) ?? []), image]);
  }
  for (const group of groups.values()) {
    const [first] = group;
    if (!first) continue;
    const lone = group.length === 1;
    const missing = new Map(group.map((image) => [refKey(image), image]));
    let offset = 0;
    let complete = false;
    for (let pages = 0; pages < (options.maxPages ?? DEFAULT_MAX_PAGES); pages++) {
      if (options.deadline - Date.now() < MIN_CALL_MS) {
        result.stopped = "deadline";
        return result;
      }
      if (options.maxCalls !== undefined && result.calls >= options.maxCalls) {
        result.stopped = "budget";
        return result;
      }
      const slot = await options.budget.take("list-images");
      if (!slot.granted) {
        result.stopped = "budget";
        result.retryAfterMs = slot.retryAfterMs;
        return result;
      }
      result.calls += 1;
      let answer: Awaited<ReturnType<HssApiClient["listRegistryImages"]>>;
      try {
        answer = await options.hss.listRegistryImages({
          image_type: first.image_type,
          namespace: first.target.namespace,
          ...(first.target.instance_id ? { instance_id: first.target.instance_id } : {}),
          ...(lone
            ? { image_name: first.target.image_name, image_version: first.target.image_version }
            : { sort_key: "latest_scan_time", sort_dir: "desc" }),
          offset,
          limit: LIST_PAGE,
        });
      } catch (error) {
        const failure = toHssCallError(error);
        if (classifyFailure(failure) === "throttled") {
          await options.budget.spendWindow("list-images");
        }
        result.stopped = "error";
        result.error = failure;
        return result;
      }
      for (const item of answer.data_list) {
        for (const [key, image] of missing) {
          if (!matches(item, image)) continue;
          result.found.set(key, item);
          missing.delete(key);
        }
      }
      offset += answer.data_list.length;
      const total = answer.total_num ?? offset;
      if (missing.size === 0) break;
      if (offset >= total || answer.data_list.length < LIST_PAGE) {
        complete = true;
        break;
      }
    }
    // Listed to the end without them: HSS does not know these images (yet).
    if (complete) for (const key of missing.keys()) result.found.set(key, null);
  }
  return result;
}
