import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isScanTarget, scanTargetSchema } from "../../../src/images/scan-target";
import { seeded } from "../../support/property";

describe("isScanTarget", () => {
  const text = fc.oneof(
    fc.string({ minLength: 1, maxLength: 20 }),
    fc.constantFrom("", "a".repeat(256), "a".repeat(257)),
    fc.integer(),
    fc.constant(null),
    fc.constant(undefined),
  );
  const candidate = fc.dictionary(
    fc.constantFrom(
      "namespace",
      "image_name",
      "image_version",
      "instance_id",
      "instance_url",
      "other",
      "__proto__",
    ),
    text,
  );

  it("agrees with scanTargetSchema on every candidate", () => {
    fc.assert(
      fc.property(candidate, (fields) => {
        expect(isScanTarget(fields)).toBe(scanTargetSchema().safeParse(fields).success);
      }),
      seeded(5000),
    );
  });

  it("accepts the API reference's example image", () => {
    expect(isScanTarget({ namespace: "test", image_name: "openjdk", image_version: "v8.8" })).toBe(
      true,
    );
  });
});
