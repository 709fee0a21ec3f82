import { isObject } from "../variables";
import { harborDefaultFormat } from "./harbor-default";
import { pushedImagesOf, readHarborEventData } from "./harbor-event-data";
import { invalidPayload } from "./invalid-payload";
import type { RegistryEvent, RegistryFormat } from "./registry-event";

/**
 * One structured-mode CloudEvent 1.0 (`{"specversion": "1.0", "type": ..., "data": {...}}`), as
 * Harbor's CloudEvents webhook format sends it (`type: "harbor.artifact.pushed"`, `data` being the
 * Default format's `event_data`) and as Huawei EventGrid delivers events, whose `data` carries the
 * registry's own event: a Harbor Default payload, or Harbor `event_data` under a push type.
 * CloudEvents of other kinds are acknowledged and ignored: an event router retries what is refused.
 */
const HARBOR_PUSH = "harbor.artifact.pushed";

export const cloudEventFormat: RegistryFormat = {
  name: "cloudevents",

  recognises: (payload) =>
    typeof payload.specversion === "string" && typeof payload.type === "string",

  parse(payload) {
    const eventType = String(payload.type).slice(0, 200);
    const { data } = payload;
    const push = (): RegistryEvent => {
      const eventData = readHarborEventData(data);
      if (!eventData.success) throw invalidPayload(`${eventType} data`, eventData.error);
      return { kind: "push", format: this.name, eventType, images: pushedImagesOf(eventData.data) };
    };
    const ignored = (reason: string): RegistryEvent => ({
      kind: "ignored",
      format: this.name,
      eventType,
      reason,
    });
    if (eventType === HARBOR_PUSH) return push();
    if (eventType.startsWith("harbor.")) return ignored("not a push event");
    if (isObject(data) && harborDefaultFormat.recognises(data)) {
      const inner = harborDefaultFormat.parse(data);
      return { ...inner, format: this.name, eventType: `${eventType}/${inner.eventType}` };
    }
    if (/push/i.test(eventType) && isObject(data) && "resources" in data) return push();
    return ignored("the CloudEvent's data is not a registry push");
  },
};
