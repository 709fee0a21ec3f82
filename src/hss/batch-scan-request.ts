import "../zod-setup";
import * as z from "zod/mini";

/**
 * The body of HSS `POST /v5/{project_id}/image/batch-scan` (BatchScanPrivateImageRequestInfo), as
 * the API reference and the generated SDK models describe it. These schemas are the single source
 * of the wire shape: manual events are validated with them, the mapping produces values of these
 * types, and the local emulator checks what it receives against them.
 */

/** HSS rejects `image_info_list` above 1024 entries (API reference); one call carries at most this. */
export const MAX_IMAGES_PER_BATCH = 1024;

/** HSS accepts strings of 1 to 256 characters in every field of an image. */
export const HSS_FIELD_MAX = 256;

export const hssField = z.string().check(z.minLength(1), z.maxLength(HSS_FIELD_MAX));

export const imageTypeSchema = z.enum(["private_image", "shared_image", "instance_image"]);
export type ImageType = z.infer<typeof imageTypeSchema>;

/** BatchScanSwrImageInfo: one image to scan. Namespace, name and tag identify it. */
export const scanTargetSchema = z.strictObject({
  namespace: hssField,
  image_name: hssField,
  image_version: hssField,
  instance_id: z.optional(hssField),
  instance_url: z.optional(hssField),
});
export type ScanTarget = z.infer<typeof scanTargetSchema>;

const TARGET_FIELDS = new Set([
  "namespace",
  "image_name",
  "image_version",
  "instance_id",
  "instance_url",
]);
const REQUIRED_TARGET_FIELDS = ["namespace", "image_name", "image_version"] as const;
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

const millis = z.int().check(z.nonnegative());

/** Filters HSS applies when `operate_all` is true. */
export const operateAllFiltersSchema = z.strictObject({
  namespace: z.optional(hssField),
  image_name: z.optional(hssField),
  image_version: z.optional(hssField),
  scan_status: z.optional(
    z.enum(["unscan", "success", "scanning", "failed", "download_failed", "image_oversized"]),
  ),
  latest_version: z.optional(z.boolean()),
  image_size: z.optional(z.int().check(z.nonnegative())),
  start_latest_update_time: z.optional(millis),
  end_latest_update_time: z.optional(millis),
  start_latest_scan_time: z.optional(millis),
  end_latest_scan_time: z.optional(millis),
  repo_type: z.optional(z.literal("SWR")),
});
export type OperateAllFilters = z.infer<typeof operateAllFiltersSchema>;

/** One request to HSS: either a list of images or "everything matching these filters". */
export const scanBatchSchema = z.union([
  z.strictObject({
    image_type: imageTypeSchema,
    image_info_list: z
      .array(scanTargetSchema)
      .check(z.minLength(1), z.maxLength(MAX_IMAGES_PER_BATCH)),
  }),
  z.extend(operateAllFiltersSchema, {
    image_type: imageTypeSchema,
    operate_all: z.literal(true),
  }),
]);
export type ScanBatch = z.infer<typeof scanBatchSchema>;

/** How an image is named in reports and logs: `namespace/name:tag`, plus the instance if any. */
export function describeTarget(target: ScanTarget): string {
  const where = target.instance_id ? ` (instance ${target.instance_id})` : "";
  return `${target.namespace}/${target.image_name}:${target.image_version}${where}`;
}
