import { describe, expect, it } from "vitest";
import {
  canonicalQueryString,
  canonicalUri,
  signature,
  verifySignature,
} from "../../../src/emulator/signature";

describe("SDK-HMAC-SHA256 signature", () => {
  it("reproduces the official test vector of the signing guide", () => {
    // Prepare
    const sk = "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc";
    const toSign =
      "SDK-HMAC-SHA256\n20191115T033655Z\nb25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a";

    // Act
    const result = signature(sk, toSign);

    // Assess
    expect(result).toBe("7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe");
  });

  it("encodes path segments and appends a slash to the canonical URI", () => {
    expect(canonicalUri("/v5/proj123/image/batch-scan")).toBe("/v5/proj123/image/batch-scan/");
    expect(canonicalUri("/a b/c*d")).toBe("/a%20b/c%2Ad/");
  });

  it("sorts query parameters by name in the canonical query string", () => {
    expect(canonicalQueryString("b=2&a=x y&enterprise_project_id=all_granted_eps")).toBe(
      "a=x%20y&b=2&enterprise_project_id=all_granted_eps",
    );
  });

  it("refuses a request without an Authorization header", () => {
    const result = verifySignature(
      { method: "POST", url: "/v5/p/image/batch-scan", headers: {}, body: Buffer.from("{}") },
      [{ ak: "AK", sk: "SK" }],
    );
    expect(result).toEqual({ valid: false, reason: "missing or malformed Authorization header" });
  });
});
