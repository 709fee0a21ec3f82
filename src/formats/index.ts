import { httpError } from "../errors";
import { harborCloudEventsFormat } from "./harbor-cloudevents";
import { harborDefaultFormat } from "./harbor-default";
import { hssScanRequestFormat } from "./hss-scan-request";
import type { RegistryEvent, RegistryFormat } from "./registry-event";

/** Every payload format the function accepts, tried in this order. */
export const registryFormats: readonly RegistryFormat[] = [
  harborDefaultFormat,
  harborCloudEventsFormat,
  hssScanRequestFormat,
];

const EXPECTED =
  'expected a Harbor/SWR Enterprise webhook ({"type": "PUSH_ARTIFACT", "event_data": {...}}), ' +
  'a Harbor CloudEvent ({"specversion": "1.0", "type": "harbor.artifact.pushed", "data": {...}}) ' +
  'or an HSS batch-scan request ({"image_type": "private_image", "image_info_list": [...]})';

/** Recognises the payload's format and parses it; 400 when no format recognises it. */
export function parseRegistryPayload(payload: unknown): RegistryEvent {
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    throw httpError(400, `the event is not a JSON object; ${EXPECTED}`);
  }
  const fields = payload as Record<string, unknown>;
  const format = registryFormats.find((candidate) => candidate.recognises(fields));
  if (!format) {
    throw httpError(400, `unrecognised event; ${EXPECTED}`);
  }
  return format.parse(fields);
}
