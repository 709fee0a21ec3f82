import { httpError } from "../errors";
import { cloudEventFormat } from "./cloudevents";
import { cloudEventBatchFormat } from "./cloudevents-batch";
import { harborDefaultFormat } from "./harbor-default";
import { hssScanRequestFormat } from "./hss-scan-request";
import type { RegistryEvent, RegistryFormat } from "./registry-event";

/** Every payload format the function accepts, tried in this order. */
export const registryFormats: readonly RegistryFormat[] = [
  harborDefaultFormat,
  cloudEventBatchFormat,
  cloudEventFormat,
  hssScanRequestFormat,
];

const EXPECTED =
  'expected a Harbor/SWR Enterprise webhook ({"type": "PUSH_ARTIFACT", "event_data": {...}}), ' +
  'a CloudEvent ({"specversion": "1.0", "type": "harbor.artifact.pushed", "data": {...}}) or a batch of them ({"events": [...]}), ' +
  'or an HSS batch-scan request ({"image_type": "private_image", "image_info_list": [...]})';

/** Recognises the payload's format and parses it; 400 when no format recognises it. */
export function parseRegistryPayload(payload: unknown): RegistryEvent {
  // CloudEvents batch mode sends a bare JSON array of events.
  if (Array.isArray(payload)) return cloudEventBatchFormat.parse({ events: payload });
  if (typeof payload !== "object" || payload === null) {
    throw httpError(400, `the event is not a JSON object; ${EXPECTED}`);
  }
  const fields = payload as Record<string, unknown>;
  const format = registryFormats.find((candidate) => candidate.recognises(fields));
  if (!format) {
    throw httpError(400, `unrecognised event; ${EXPECTED}`);
  }
  return format.parse(fields);
}
