import type { ScanBatch } from "../hss/batch-scan-request";
import type { ScanApi } from "./scan-api";

/**
 * batch-scan (`POST /v5/{project_id}/image/batch-scan`, BatchScanPrivateImageRequestInfo): one
 * call for up to 1,024 images named by namespace, name and tag, or for every image matching
 * filters (`operate_all`). Deprecated by HSS in favour of scan-task, and the default: it needs no
 * lookup, so it works without a queue. The day HSS stops serving it, a queue switches to scan-task.
 */
export const batchScan: ScanApi = {
  name: "batch-scan",
  needsLookup: false,
  successor: "scan-task",
  request(batch, _settings, listed) {
    return {
      method: "POST",
      pathTemplate: "/v5/{project_id}/image/batch-scan",
      query: {},
      body: listed ? withListedInstanceUrls(batch, listed) : batch,
    };
  },
};

/** Where an image was looked up, HSS's own record of its instance URL is the value to send. */
function withListedInstanceUrls(
  batch: ScanBatch,
  listed: NonNullable<Parameters<ScanApi["request"]>[2]>,
): ScanBatch {
  if (!("image_info_list" in batch)) return batch;
  return {
    ...batch,
    image_info_list: batch.image_info_list.map((target) => {
      const url = listed(target)?.instance_url;
      return url ? { ...target, instance_url: url } : target;
    }),
  };
}
