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
  // Each image is already named as HSS records it (send-scan.ts, through instance-urls.ts: a
  // configured URL, else HSS's listed value, else the learned form): sent as it is.
  request(batch) {
    return {
      method: "POST",
      pathTemplate: "/v5/{project_id}/image/batch-scan",
      query: {},
      body: batch,
    };
  },
};
