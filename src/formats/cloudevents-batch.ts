import { httpError } from "../errors";
import { cloudEventFormat } from "./cloudevents";
import type { IgnoredEvent, PushedImage, RegistryFormat } from "./registry-event";

/**
 * Several CloudEvents in one delivery: Huawei EventGrid's `{"events": [...]}`, or a JSON array
 * (CloudEvents batch mode, `application/cloudevents-batch+json`). Every push of the batch becomes
 * part of one scan, so that they go to HSS in as few requests as possible.
 */
export const cloudEventBatchFormat: RegistryFormat = {
  name: "cloudevents-batch",

  recognises: (payload) => Array.isArray(payload.events),

  parse(payload) {
    const events = payload.events as unknown[];
    const images: PushedImage[] = [];
    const ignored: IgnoredEvent[] = [];
    for (const [index, event] of events.entries()) {
      const fields = (typeof event === "object" && event !== null ? event : {}) as Record<
        string,
        unknown
      >;
      if (Array.isArray(event) || !cloudEventFormat.recognises(fields)) {
        throw httpError(
          422,
          `events[${index}] is not a CloudEvent (it needs specversion and type)`,
        );
      }
      let parsed: ReturnType<RegistryFormat["parse"]>;
      try {
        parsed = cloudEventFormat.parse(fields);
      } catch (error) {
        (error as Error).message = `events[${index}]: ${(error as Error).message}`;
        throw error;
      }
      if (parsed.kind === "push") images.push(...parsed.images);
      else
        ignored.push({
          eventType: parsed.eventType,
          reason:
            parsed.kind === "ignored" ? (parsed.reason ?? "not a push event") : "not a push event",
        });
    }
    const eventType = `batch of ${events.length} event${events.length === 1 ? "" : "s"}`;
    if (images.length === 0) {
      return { kind: "ignored", format: this.name, eventType, reason: "no push in the batch" };
    }
    return { kind: "push", format: this.name, eventType, images, ignored };
  },
};
