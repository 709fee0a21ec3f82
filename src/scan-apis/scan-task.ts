import type { ImageType, ScanTarget } from "../images/scan-target";
import type { ListedImageIds, ScanApi, ScanSettings } from "./scan-api";

/**
 * scan-task: CreateManualImageScanTask (`POST /v5/{project_id}/image/image-scan/tasks`), the
 * successor of batch-scan (`HSS_SCAN_API=scan-task`). Field names as in HSS's API reference and
 * generated SDK models. HSS identifies a task's images by its own records (ListRegistryImages), so
 * each image is looked up first and named as HSS lists it; what HSS does not say comes from the
 * push.
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

const REGISTRY_TYPES: Record<ImageType, string> = {
  private_image: "SwrPrivate",
  shared_image: "SwrShared",
  instance_image: "SwrEnterprise",
};

/**
 * What HSS's model says a task needs to name a registry image (id, image_digest, namespace,
 * image_name, image_version, registry_id, registry_name, registry_type; instance_id for an
 * enterprise image), less what the push says itself (names, instance) or the image type implies
 * (registry type): these can come only from HSS's record.
 */
const FROM_THE_RECORD = ["id", "image_digest", "registry_id", "registry_name"] as const;

export const scanTask: ScanApi = {
  name: "scan-task",
  needsLookup: true,
  previewNote:
    "each image is first looked up with ListRegistryImages; its id, image_id, image_digest, registry_id, registry_name and instance_url are HSS's own",
  recordLacks: (item) =>
    FROM_THE_RECORD.filter(
      (name) => item[name] === undefined || item[name] === null || item[name] === "",
    ),
  request(batch, settings, listed) {
    const body: CreateManualImageScanTaskBody =
      "image_info_list" in batch
        ? scanTaskBody(
            batch.image_info_list.map((target) =>
              taskImageOf(batch.image_type, target, listed?.(target)),
            ),
            settings,
          )
        : { scan_scope: settings.scope, rate_limit: settings.rateLimit, is_all: true };
    return {
      method: "POST",
      pathTemplate: "/v5/{project_id}/image/image-scan/tasks",
      query: { global_image_type: "registry" },
      body,
    };
  },
};

/** An image of a task, named as HSS lists it; what HSS does not say comes from the push. */
function taskImageOf(
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

function scanTaskBody(
  images: ScanTaskImage[],
  settings: ScanSettings,
): CreateManualImageScanTaskBody {
  return { scan_scope: settings.scope, rate_limit: settings.rateLimit, image_info: images };
}
