import * as z from "zod/mini";
import {
  hssField,
  imageTypeSchema,
  MAX_IMAGES_PER_BATCH,
  scanTargetSchema,
} from "../images/scan-target";
import { lazySchema } from "../zod-setup";

/**
 * The body of HSS `POST /v5/{project_id}/image/batch-scan` (BatchScanPrivateImageRequestInfo), as
 * the API reference and the generated SDK models describe it. These schemas are the single source
 * of the wire shape: manual events are validated with them, the mapping produces values of these
 * types, and the local emulator checks what it receives against them.
 */

/** Filters HSS applies when `operate_all` is true. */
export const operateAllFiltersOf = () => {
  const millis = z.int().check(z.nonnegative());
  return z.strictObject({
    namespace: z.optional(hssField()),
    image_name: z.optional(hssField()),
    image_version: z.optional(hssField()),
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
};
export type OperateAllFilters = z.infer<ReturnType<typeof operateAllFiltersOf>>;

/**
 * One request to HSS: either a list of images or "everything matching these filters". Built on
 * first use: the function builds requests, it does not parse them.
 */
export const scanBatchSchema = lazySchema(() =>
  z.union([
    z.strictObject({
      image_type: imageTypeSchema(),
      image_info_list: z
        .array(scanTargetSchema())
        .check(z.minLength(1), z.maxLength(MAX_IMAGES_PER_BATCH)),
    }),
    z.extend(operateAllFiltersOf(), {
      image_type: imageTypeSchema(),
      operate_all: z.literal(true),
    }),
  ]),
);
export type ScanBatch = z.infer<ReturnType<typeof scanBatchSchema>>;
