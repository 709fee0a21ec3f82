import { invalidPayload } from "./invalid-payload";
import { manualScanRequestSchema } from "./manual-scan-request";
import type { RegistryFormat } from "./registry-event";

/** The HSS batch-scan request body itself, as a manual or CI event (manual-scan-request.ts). */
export const hssScanRequestFormat: RegistryFormat = {
  name: "hss-batch-scan",

  recognises: (payload) => "image_type" in payload,

  parse(payload) {
    const request = manualScanRequestSchema().safeParse(payload);
    if (!request.success) throw invalidPayload("HSS batch-scan request", request.error);
    return {
      kind: "scan-request",
      format: this.name,
      eventType: request.data.operate_all ? "operate_all" : "image_info_list",
      request: request.data,
    };
  },
};
