import * as z from "zod/mini";
import { lazySchema } from "../zod-setup";

/**
 * An image as HSS names it (BatchScanSwrImageInfo: namespace, name, tag, and for SWR Enterprise
 * Edition the instance id and URL), with HSS's limits on those fields and on how many go in one
 * request: what identifies a scan (its key), and how an image is printed in answers and logs.
 * Every part of the product names images this way; the wire shapes of HSS's requests build on it.
 */

/** HSS rejects `image_info_list` above 1024 entries (API reference); one call carries at most this. */
export const MAX_IMAGES_PER_BATCH = 1024;

/** HSS accepts strings of 1 to 256 characters in every field of an image. */
export const HSS_FIELD_MAX = 256;

/** A text field of an image as HSS takes it (the schemas below are built on first use). */
export const hssField = lazySchema(() =>
  z.string().check(z.minLength(1), z.maxLength(HSS_FIELD_MAX)),
);

export const IMAGE_TYPES = ["private_image", "shared_image", "instance_image"] as const;
export type ImageType = (typeof IMAGE_TYPES)[number];
export const imageTypeSchema = lazySchema(() => z.enum(IMAGE_TYPES));

/**
 * BatchScanSwrImageInfo: one image to scan. Namespace, name and tag identify it. Mapping checks
 * images directly (`isScanTarget`); this schema only words a refusal and checks what the emulator
 * receives.
 */
export const scanTargetSchema = lazySchema(() =>
  z.strictObject({
    namespace: hssField(),
    image_name: hssField(),
    image_version: hssField(),
    instance_id: z.optional(hssField()),
    instance_url: z.optional(hssField()),
  }),
);
export type ScanTarget = z.infer<ReturnType<typeof scanTargetSchema>>;

/** The fields of an image, in the order HSS's reference lists them (the schema's keys). */
export const SCAN_TARGET_FIELDS: Array<keyof ScanTarget> = [
  "namespace",
  "image_name",
  "image_version",
  "instance_id",
  "instance_url",
];
const REQUIRED_TARGET_FIELDS = ["namespace", "image_name", "image_version"] as const;
const TARGET_FIELDS = new Set<string>(SCAN_TARGET_FIELDS);
const isHssText = (value: unknown) =>
  typeof value === "string" && value.length >= 1 && value.length <= HSS_FIELD_MAX;

/**
 * The same rules as `scanTargetSchema`, checked directly: mapping a 10,000-image delivery calls
 * this once per image, and a schema parse per image costs more than the rest of the mapping.
 * The schema stays the reference, and explains what is wrong when this says no.
 */
export function isScanTarget(candidate: Record<string, unknown>): candidate is ScanTarget {
  for (const field of REQUIRED_TARGET_FIELDS) if (!isHssText(candidate[field])) return false;
  for (const [field, value] of Object.entries(candidate)) {
    if (!TARGET_FIELDS.has(field) || (value !== undefined && !isHssText(value))) return false;
  }
  return true;
}

/**
 * What makes two pushes the same scan: the image as HSS names it plus the pushed digest, so that a
 * tag re-pushed with new content is a new scan while a retried delivery of the same push is not.
 */
export function scanKey(
  imageType: ImageType,
  target: ScanTarget,
  digest: string | undefined,
): string {
  return JSON.stringify([
    imageType,
    target.instance_id ?? "",
    target.namespace,
    target.image_name,
    target.image_version,
    digest ?? "",
  ]);
}

/** What makes two targets the same image for HSS. */
export function targetKey(target: ScanTarget): string {
  return JSON.stringify([
    target.instance_id ?? "",
    target.namespace,
    target.image_name,
    target.image_version,
  ]);
}

/** How an image is named in reports and logs: `namespace/name:tag`, plus the instance if any. */
export function describeTarget(target: ScanTarget): string {
  const where = target.instance_id ? ` (instance ${target.instance_id})` : "";
  return `${target.namespace}/${target.image_name}:${target.image_version}${where}`;
}

/** How many images a log line names; the rest are counted. */
export const NAMED_IN_LOGS = 10;

/** Images named in a log line: the first NAMED_IN_LOGS by describeTarget, and how many more. */
export function namesOf(targets: readonly ScanTarget[]): { names: string[]; more?: number } {
  const names = targets.slice(0, NAMED_IN_LOGS).map(describeTarget);
  return targets.length > names.length ? { names, more: targets.length - names.length } : { names };
}
