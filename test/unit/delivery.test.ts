import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { payloadOf, recogniseDelivery } from "../../src/delivery";
import { apigEvent, errorOf, loadEvent } from "../support/fixtures";

describe("recogniseDelivery", () => {
  it("decodes a FunctionGraph APIG event's base64 body and reads its query", () => {
    const delivery = recogniseDelivery(loadEvent("apig-swr-ee-push.json"));
    expect(delivery).toMatchObject({
      kind: "http",
      method: "POST",
      query: { instance_id: "6b7cc0f2-35b4-4f2e-9d1e-8a4d3c2b1a00" },
    });
    expect(JSON.parse((delivery as { body: string }).body)).toMatchObject({
      type: "PUSH_ARTIFACT",
    });
  });

  it("lower-cases API Gateway REST header names", () => {
    const event = {
      ...apigEvent({}),
      headers: { "Content-Type": "application/json", Authorization: "x" },
    };
    expect(recogniseDelivery(event)).toMatchObject({
      headers: { "content-type": "application/json", authorization: "x" },
    });
  });

  it("reads an HTTP API v2 event's method and raw query string", () => {
    const delivery = recogniseDelivery(loadEvent("http-api-v2-push.json"));
    expect(delivery).toMatchObject({
      kind: "http",
      method: "POST",
      query: { instance_id: "9f8e7d6c-5b4a-4321-8fed-cba987654321" },
    });
  });

  it("treats anything else as a direct invocation carrying the payload", () => {
    const payload = { image_type: "private_image", operate_all: true };
    expect(recogniseDelivery(payload)).toEqual({ kind: "direct", payload });
  });
});

const MAX = 1024 * 1024;

describe("payloadOf", () => {
  const http = (body: string, method = "POST") =>
    recogniseDelivery({ ...apigEvent(body), httpMethod: method });

  it("parses a JSON body", () => {
    expect(payloadOf(http('{"a":1}'), MAX)).toEqual({ a: 1 });
  });

  it("answers 400 for a body that is not JSON", () => {
    expect(() => payloadOf(http("type=PUSH_ARTIFACT"), MAX)).toThrow(/not JSON/);
  });

  it("counts MAX_BODY_BYTES in the bytes sent, a byte that is not UTF-8 once", () => {
    // 2,000 bytes of 0xff: 2,000 sent, though each becomes the 3-byte U+FFFD when decoded.
    const invalid = {
      ...apigEvent(""),
      body: Buffer.alloc(2000, 0xff).toString("base64"),
    };
    const delivery = recogniseDelivery(invalid);
    expect(delivery).toMatchObject({ bodyBytes: 2000 });
    expect(() => payloadOf(delivery, 2000)).toThrow(/not JSON/);
    expect(errorOf(() => payloadOf(delivery, 1999)).message).toBe(
      "the request body has 2000 bytes; the limit is 1999 (MAX_BODY_BYTES)",
    );
    // A body given as text (not base64) counts its UTF-8 bytes.
    const text = recogniseDelivery({
      ...apigEvent(""),
      body: "ü".repeat(10),
      isBase64Encoded: false,
    });
    expect(text).toMatchObject({ bodyBytes: 20 });
  });

  it("answers 400 for an empty body", () => {
    expect(() => payloadOf(http(""), MAX)).toThrow(/empty/);
  });

  it("answers 405 for methods other than POST", () => {
    expect(() => payloadOf(http("{}", "GET"), MAX)).toThrow(/POST, not GET/);
  });
});

describe("payloadOf, for bodies that are not plain JSON", () => {
  const raw = (body: Buffer, headers: Record<string, string> = {}) =>
    recogniseDelivery({
      ...apigEvent(""),
      headers: { "content-type": "application/json", ...headers },
      body: body.toString("base64"),
      isBase64Encoded: true,
    });

  it("reads JSON behind a UTF-8 byte order mark", () => {
    expect(payloadOf(raw(Buffer.from('\ufeff{"type":"x"}')), 1e6)).toEqual({ type: "x" });
  });

  it("names gzip instead of calling the body 'not JSON'", () => {
    const zipped = gzipSync(Buffer.from('{"type":"x"}'));
    expect(errorOf(() => payloadOf(raw(zipped), 1e6))).toMatchObject({
      statusCode: 415,
      message: "the request body is gzip-compressed; send it uncompressed",
    });
    expect(errorOf(() => payloadOf(raw(zipped, { "content-encoding": "gzip" }), 1e6)).message).toBe(
      "the request body is gzip-encoded; send it uncompressed",
    );
  });

  it("shows binary bytes in a parse error as escapes", () => {
    const error = errorOf(() => payloadOf(raw(Buffer.from([0, 1, 0x7b])), 1e6));
    expect(error.statusCode).toBe(400);
    expect(error.message).toMatch(/^the request body is not JSON \(.*\\u0000/);
    expect([...error.message].filter((character) => character.charCodeAt(0) < 0x20)).toEqual([]);
  });
});
