import type { Config } from "../config";
import { HSS_APIS } from "./api-paths";
import type { ImageType, ScanBatch, ScanTarget } from "./batch-scan-request";
import type { BatchScanSubmitter, HssClientOptions, HssRequestPreview } from "./client";

/**
 * The body of CreateManualImageScanTask (`POST /v5/{project_id}/image/image-scan/tasks`), the
 * successor of batch-scan (`HSS_SCAN_API=scan-task`), and its dry-run preview. Field names as in
 * HSS's API reference and generated SDK models. HSS identifies a task's images by its own records
 * (ListRegistryImages): the flusher looks each image up first and names it as HSS lists it.
 */

/** One image of a CreateManualImageScanTask request, identified as HSS's listing names it. */
export interface ScanTaskImage {
  id?: number;
  image_id?: string;
  image_digest?: string;
  registry_id?: string;
  registry_name?: string;
  registry_type?: string;
  namespace: string;
  image_name: string;
  image_version: string;
  instance_id?: string;
  instance_url?: string;
}

export interface CreateManualImageScanTaskBody {
  scan_scope?: number;
  rate_limit?: number;
  is_all?: boolean;
  image_info?: ScanTaskImage[];
}

/** The fields of ListRegistryImages this body takes from HSS's record of an image. */
export interface ListedImageIds {
  id?: number | null;
  image_id?: string | null;
  image_digest?: string | null;
  registry_id?: string | null;
  registry_name?: string | null;
  registry_type?: string | null;
  instance_id?: string | null;
  instance_url?: string | null;
}

export type ScanTaskSettings = Config["scan"];

const REGISTRY_TYPES: Record<ImageType, string> = {
  private_image: "SwrPrivate",
  shared_image: "SwrShared",
  instance_image: "SwrEnterprise",
};

/** An image of a task, named as HSS lists it; what HSS does not say comes from the push. */
export function taskImageOf(
  imageType: ImageType,
  target: ScanTarget,
  item?: ListedImageIds,
): ScanTaskImage {
  const image: ScanTaskImage = {
    namespace: target.namespace,
    image_name: target.image_name,
    image_version: target.image_version,
    registry_type: item?.registry_type ?? REGISTRY_TYPES[imageType],
  };
  if (item?.id !== undefined && item.id !== null) image.id = item.id;
  if (item?.image_id) image.image_id = item.image_id;
  if (item?.image_digest) image.image_digest = item.image_digest;
  if (item?.registry_id) image.registry_id = item.registry_id;
  if (item?.registry_name) image.registry_name = item.registry_name;
  const instanceId = item?.instance_id ?? target.instance_id;
  if (instanceId) image.instance_id = instanceId;
  // HSS's own record of the instance URL is the value to send back; the push's is a guess.
  const instanceUrl = item?.instance_url ?? target.instance_url;
  if (instanceUrl) image.instance_url = instanceUrl;
  return image;
}

export function scanTaskBody(
  images: ScanTaskImage[],
  settings: ScanTaskSettings,
): CreateManualImageScanTaskBody {
  return { scan_scope: settings.scope, rate_limit: settings.rateLimit, image_info: images };
}

/** The dry run of a scan task: what would be sent, before the lookup fills in HSS's ids. */
export function createScanTaskPreviewer(
  options: Omit<HssClientOptions, "credentials">,
  settings: ScanTaskSettings,
): BatchScanSubmitter {
  return {
    async submitBatchScan(batch: ScanBatch) {
      const images =
        "image_info_list" in batch
          ? batch.image_info_list.map((target) => taskImageOf(batch.image_type, target))
          : [];
      const query = new URLSearchParams({
        global_image_type: "registry",
        ...(options.enterpriseProjectId
          ? { enterprise_project_id: options.enterpriseProjectId }
          : {}),
      });
      const preview: HssRequestPreview = {
        method: "POST",
        url: `${options.endpoint.replace(/\/$/, "")}${HSS_APIS.scanTask.path.replace("{project_id}", encodeURIComponent(options.projectId))}?${query}`,
        headers: {
          "content-type": "application/json",
          "x-project-id": options.projectId,
          ...(options.region ? { region: options.region } : {}),
        },
        body:
          "image_info_list" in batch
            ? scanTaskBody(images, settings)
            : { scan_scope: settings.scope, rate_limit: settings.rateLimit, is_all: true },
        note: "each image is first looked up with ListRegistryImages; its id, image_id, image_digest, registry_id and instance_url are HSS's own",
      };
      return { preview };
    },
  };
}
