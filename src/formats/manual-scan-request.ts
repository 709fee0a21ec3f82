import * as z from "zod/mini";
import { operateAllFiltersOf } from "../hss/batch-scan-request";
import { imageTypeSchema, SCAN_TARGET_FIELDS } from "../images/scan-target";
import { lazySchema } from "../zod-setup";

/**
 * The HSS batch-scan request body itself, used as a manual or CI event:
 * `{"image_type": "private_image", "image_info_list": [{"namespace": ..., "image_name": ..., "image_version": ...}]}`
 * or `{"image_type": "private_image", "operate_all": true, ...filters}`.
 * The envelope is checked strictly (a misspelt field is an error, not a silent no-op); each listed
 * image is checked later, one by one, so that one bad entry is skipped with a reason instead of
 * failing the others.
 */
/** BatchScanSwrImageInfo's fields: a misspelt one would otherwise silently drop the image. */
const IMAGE_FIELDS: readonly string[] = SCAN_TARGET_FIELDS;

const manualScanRequestSchemaOf = () =>
  z
    .extend(operateAllFiltersOf(), {
      image_type: imageTypeSchema(),
      operate_all: z.optional(z.boolean()),
      image_info_list: z.optional(z.array(z.unknown())),
    })
    .check(
      z.superRefine((request, ctx) => {
        const { image_type, operate_all, image_info_list, ...filters } = request;
        if (operate_all) {
          if (image_info_list !== undefined) {
            ctx.addIssue({
              code: "custom",
              path: ["image_info_list"],
              message: "give either image_info_list or operate_all: true, not both",
            });
          }
          return;
        }
        if (!image_info_list || image_info_list.length === 0) {
          ctx.addIssue({
            code: "custom",
            path: ["image_info_list"],
            message: "list at least one image, or set operate_all: true",
          });
        }
        for (const [index, entry] of image_info_list?.entries() ?? []) {
          if (typeof entry !== "object" || entry === null) continue;
          const unknown = Object.keys(entry).find((field) => !IMAGE_FIELDS.includes(field));
          if (unknown !== undefined) {
            ctx.addIssue({
              code: "custom",
              path: ["image_info_list", index, unknown],
              message: `unknown field "${unknown.slice(0, 40)}"; an image has ${IMAGE_FIELDS.join(", ")}`,
            });
          }
        }
        const filterNames = Object.keys(filters);
        if (filterNames.length > 0) {
          ctx.addIssue({
            code: "custom",
            path: [filterNames[0] as string],
            message: "filters apply only together with operate_all: true",
          });
        }
      }),
    );

/** Built on first use: only a manual request is parsed with it. */
export const manualScanRequestSchema = lazySchema(manualScanRequestSchemaOf);

export type ManualScanRequest = z.infer<ReturnType<typeof manualScanRequestSchemaOf>>;
