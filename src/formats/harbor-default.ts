import { pushedImagesOf, readHarborEventData } from "./harbor-event-data";
import { invalidPayload } from "./invalid-payload";
import type { RegistryFormat } from "./registry-event";

/**
 * Harbor's "Default" webhook payload, which SWR Enterprise Edition triggers send:
 * `{"type": "PUSH_ARTIFACT", "occur_at": ..., "operator": ..., "event_data": {...}}`.
 * Harbor 1.x named the same event `pushImage`.
 */
const PUSH_TYPES = new Set(["PUSH_ARTIFACT", "pushImage"]);

export const harborDefaultFormat: RegistryFormat = {
  name: "harbor-default",

  recognises: (payload) =>
    typeof payload.type === "string" &&
    typeof payload.event_data === "object" &&
    payload.event_data !== null,

  parse(payload) {
    const eventType = String(payload.type);
    if (!PUSH_TYPES.has(eventType)) return { kind: "ignored", format: this.name, eventType };
    const eventData = readHarborEventData(payload.event_data);
    if (!eventData.success) throw invalidPayload(`${eventType} event_data`, eventData.error);
    return { kind: "push", format: this.name, eventType, images: pushedImagesOf(eventData.data) };
  },
};
