import { httpError } from "../errors";
import { harborEventDataSchema, pushedImagesOf } from "./harbor-event-data";
import { invalidPayload } from "./invalid-payload";
import type { RegistryFormat } from "./registry-event";

/**
 * Harbor's CloudEvents 1.0 webhook payload (structured mode, `application/cloudevents+json`):
 * `{"specversion": "1.0", "type": "harbor.artifact.pushed", "data": {...}}`, where `data` is the
 * Default format's `event_data`.
 */
const PUSH_TYPE = "harbor.artifact.pushed";

export const harborCloudEventsFormat: RegistryFormat = {
  name: "harbor-cloudevents",

  recognises: (payload) =>
    typeof payload.specversion === "string" && typeof payload.type === "string",

  parse(payload) {
    const eventType = String(payload.type);
    if (!eventType.startsWith("harbor.")) {
      throw httpError(
        400,
        `CloudEvent type "${eventType.slice(0, 100)}" is not a registry event; expected ${PUSH_TYPE} (other harbor.* types are acknowledged and ignored)`,
      );
    }
    if (eventType !== PUSH_TYPE) return { kind: "ignored", format: this.name, eventType };
    const data = harborEventDataSchema.safeParse(payload.data);
    if (!data.success) throw invalidPayload(`${eventType} data`, data.error);
    return { kind: "push", format: this.name, eventType, images: pushedImagesOf(data.data) };
  },
};
