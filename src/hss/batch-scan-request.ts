import "../zod-setup";
import * as z from "zod";

/**
 * The body of HSS `POST /v5/{project_id}/image/batch-scan` (BatchScanPrivateImageRequestInfo), as
 * the API reference and the generated SDK models describe it. These schemas are the single source
 * of the wire shape: manual events are validated with them, the mapping produces values of these
 * types, and the local emulator checks what it receives against them.
 */

/** HSS accepts strings of 1 to 256 characters in every field of an image. */
export const HSS_FIELD_MAX = 256;

export const hssField = z.string().min(1).max(HSS_FIELD_MAX);

export const imageTypeSchema = z.enum(["private_image", "shared_image", "instance_image"]);
export type ImageType = z.infer<typeof imageTypeSchema>;

/** BatchScanSwrImageInfo: one image to scan. Namespace, name and tag identify it. */
export const scanTargetSchema = z.strictObject({
  namespace: hssField,
  image_name: hssField,
  image_version: hssField,
  instance_id: hssField.optional(),
  instance_url: hssField.optional(),
});
export type ScanTarget = z.infer<typeof scanTargetSchema>;

const millis = z.number().int().nonnegative();

/** Filters HSS applies when `operate_all` is true. */
export const operateAllFiltersSchema = z.strictObject({
  namespace: hssField.optional(),
  image_name: hssField.optional(),
  image_version: hssField.optional(),
  scan_status: z
    .enum(["unscan", "success", "scanning", "failed", "download_failed", "image_oversized"])
    .optional(),
  latest_version: z.boolean().optional(),
  image_size: z.number().int().nonnegative().optional(),
  start_latest_update_time: millis.optional(),
  end_latest_update_time: millis.optional(),
  start_latest_scan_time: millis.optional(),
  end_latest_scan_time: millis.optional(),
  repo_type: z.literal("SWR").optional(),
});
export type OperateAllFilters = z.infer<typeof operateAllFiltersSchema>;

/** One request to HSS: either a list of images or "everything matching these filters". */
export const scanBatchSchema = z.union([
  z.strictObject({
    image_type: imageTypeSchema,
    image_info_list: z.array(scanTargetSchema).min(1).max(1024),
  }),
  operateAllFiltersSchema.extend({
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
