import { httpError } from "./errors";
import { isObject } from "./variables";

/**
 * How an event reached the function: through an HTTP trigger (FunctionGraph APIG, AWS API
 * Gateway REST v1, HTTP API / function URL v2), or by direct invocation (console test event,
 * CLI, another function), where the event is the payload itself.
 */
export interface HttpDelivery {
  kind: "http";
  method: string;
  /** Header names in lower case. */
  headers: Record<string, string>;
  query: Record<string, string>;
  /** The body, already decoded from base64 when the trigger encoded it. */
  body: string;
  /** The body's size in bytes as it was sent (before bytes that are not UTF-8 became U+FFFD). */
  bodyBytes: number;
}

export interface DirectDelivery {
  kind: "direct";
  payload: unknown;
}

/** A scheduled invocation: the time to flush the scan queue. */
export interface ScheduleDelivery {
  kind: "schedule";
  /** Which scheduler: a FunctionGraph TIMER trigger or an AWS EventBridge schedule. */
  source: "timer" | "eventbridge";
  /** The trigger's or rule's name, for the log. */
  name?: string;
}

export type Delivery = HttpDelivery | DirectDelivery | ScheduleDelivery;

type Fields = Record<string, unknown>;

export function recogniseDelivery(event: unknown): Delivery {
  if (!isObject(event)) return { kind: "direct", payload: event };
  const http = isObject(event.requestContext) ? event.requestContext.http : undefined;
  // HTTP API and function URLs (payload format 2.0).
  if (event.version === "2.0" && isObject(http) && typeof http.method === "string") {
    return {
      kind: "http",
      method: http.method.toUpperCase(),
      headers: lowerCaseHeaders(event.headers),
      query: Object.assign(
        Object.create(null),
        Object.fromEntries(new URLSearchParams(stringOr(event.rawQueryString, ""))),
      ),
      ...decodeBody(event),
    };
  }
  // FunctionGraph APIG trigger and API Gateway REST proxy (payload format 1.0).
  if (typeof event.httpMethod === "string" && ("headers" in event || "requestContext" in event)) {
    return {
      kind: "http",
      method: event.httpMethod.toUpperCase(),
      headers: lowerCaseHeaders(event.headers),
      query: firstValues(event.queryStringParameters),
      ...decodeBody(event),
    };
  }
  // FunctionGraph TIMER trigger: {"version": "v1.0", "time": …, "trigger_type": "TIMER", "trigger_name": …}.
  if (event.trigger_type === "TIMER" && typeof event.time === "string") {
    return {
      kind: "schedule",
      source: "timer",
      name: stringOr(event.trigger_name, "") || undefined,
    };
  }
  // AWS EventBridge (CloudWatch Events) schedule.
  if (event.source === "aws.events" && event["detail-type"] === "Scheduled Event") {
    const [rule] = Array.isArray(event.resources) ? event.resources : [];
    return {
      kind: "schedule",
      source: "eventbridge",
      name: typeof rule === "string" ? rule : undefined,
    };
  }
  return { kind: "direct", payload: event };
}

const JSON_MEDIA_TYPE = /^application\/([a-z0-9.+-]+\+)?json$/;

/** The registry payload a delivery carries: the parsed JSON body, or the direct event. */
export function payloadOf(delivery: Delivery, maxBodyBytes: number): unknown {
  if (delivery.kind === "direct") return delivery.payload;
  if (delivery.kind === "schedule") return undefined;
  if (delivery.method !== "POST") {
    throw httpError(405, `send registry events with POST, not ${delivery.method.slice(0, 10)}`, {
      headers: { allow: "POST" },
    });
  }
  // Senders that omit the content type are tolerated; one that names another type is refused.
  const mediaType = delivery.headers["content-type"]?.split(";")[0]?.trim().toLowerCase();
  if (mediaType && !JSON_MEDIA_TYPE.test(mediaType)) {
    throw httpError(
      415,
      `send the event as application/json or application/cloudevents+json, not ${mediaType.slice(0, 60)}`,
    );
  }
  // The bytes sent: a byte that is not UTF-8 counts once, not as the three of U+FFFD.
  const size = delivery.bodyBytes;
  if (size > maxBodyBytes) {
    throw httpError(
      413,
      `the request body has ${size} bytes; the limit is ${maxBodyBytes} (MAX_BODY_BYTES)`,
    );
  }
  const encoding = delivery.headers["content-encoding"]?.trim().toLowerCase();
  // gzip's magic bytes, 1f 8b: the second is not valid UTF-8 and arrives as U+FFFD.
  const gzipMagic =
    delivery.body.charCodeAt(0) === 0x1f && [0x8b, 0xfffd].includes(delivery.body.charCodeAt(1));
  if ((encoding && encoding !== "identity") || gzipMagic) {
    throw httpError(
      415,
      `the request body is ${encoding && encoding !== "identity" ? `${encoding.slice(0, 20)}-encoded` : "gzip-compressed"}; send it uncompressed`,
    );
  }
  // A UTF-8 byte order mark is not JSON, but some tools write one.
  const body = delivery.body.startsWith("\ufeff") ? delivery.body.slice(1) : delivery.body;
  if (body.trim() === "") {
    throw httpError(400, "the request body is empty; expected a JSON registry event");
  }
  try {
    return JSON.parse(body);
  } catch (error) {
    const reason = error instanceof Error ? printable(error.message.slice(0, 120)) : "parse error";
    throw httpError(400, `the request body is not JSON (${reason})`);
  }
}

/** Control and replacement characters escaped, so that binary input shows as text. */
function printable(text: string): string {
  let shown = "";
  for (const character of text) {
    const code = character.charCodeAt(0);
    const control = code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0xfffd;
    shown += control ? `\\u${code.toString(16).padStart(4, "0")}` : character;
  }
  return shown;
}

function decodeBody(event: Fields): { body: string; bodyBytes: number } {
  const body = stringOr(event.body, "");
  if (event.isBase64Encoded !== true) return { body, bodyBytes: Buffer.byteLength(body, "utf8") };
  const bytes = Buffer.from(body, "base64");
  return { body: bytes.toString("utf8"), bodyBytes: bytes.length };
}

function lowerCaseHeaders(headers: unknown): Record<string, string> {
  const lowered: Record<string, string> = Object.create(null);
  if (!isObject(headers)) return lowered;
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value === "string") lowered[name.toLowerCase()] = value;
  }
  return lowered;
}

// APIG and REST v1 give single values; some triggers give arrays for repeated parameters.
function firstValues(parameters: unknown): Record<string, string> {
  const values: Record<string, string> = Object.create(null);
  if (!isObject(parameters)) return values;
  for (const [name, value] of Object.entries(parameters)) {
    const first = Array.isArray(value) ? value[0] : value;
    if (typeof first === "string") values[name] = first;
  }
  return values;
}

function stringOr(value: unknown, fallback: string): string {
  return typeof value === "string" ? value : fallback;
}
