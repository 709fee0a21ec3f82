import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { recordedInstanceUrl } from "../../../src/emulator/emulated-registry";
import { applyForm, configuredUrlOf, formOf } from "../../../src/images/instance-url";
import { seeded } from "../../support/property";

/** How HSS's instance_url of one image is read as a form, and applied to the instance's others. */

const image = { namespace: "team", image_name: "api/web", image_version: "1.2" };
const HOST = "swr-ee.example.com";

describe("formOf", () => {
  it.each([
    ["the pull reference", `${HOST}/team/api/web:1.2`, `${HOST}/{namespace}/{image}:{tag}`],
    ["the repository without the tag", `${HOST}/team/api/web`, `${HOST}/{namespace}/{image}`],
    ["the registry's address with a scheme", `https://${HOST}`, `https://${HOST}`],
    ["the namespace's address", `https://${HOST}/team`, `https://${HOST}/{namespace}`],
    ["the reference without a host", "team/api/web:1.2", "{namespace}/{image}:{tag}"],
    [
      "something unrelated to the image",
      "https://other.example.com/v2/",
      "https://other.example.com/v2/",
    ],
  ])("reads %s", (_, hssValue, form) => {
    expect(formOf(hssValue, image)).toBe(form);
  });

  it("refuses a value that cannot be a template", () => {
    expect(formOf("https://{weird}", image)).toBeUndefined();
    expect(formOf("", image)).toBeUndefined();
  });
});

describe("applyForm", () => {
  it("names another image of the instance as HSS would", () => {
    const form = formOf(`https://${HOST}/team/api/web`, image) as string;
    expect(applyForm(form, { namespace: "ops", image_name: "db", image_version: "9" })).toBe(
      `https://${HOST}/ops/db`,
    );
  });

  it("gives nothing that HSS would refuse (over 256 characters)", () => {
    expect(
      applyForm("{namespace}/{image}:{tag}", { ...image, image_name: "x".repeat(300) }),
    ).toBeUndefined();
  });

  it("learns any form from one image and names every other image of the instance exactly as HSS records it", () => {
    const part = fc.stringMatching(/^[a-z0-9]{1,12}$/);
    const form = fc.constantFrom(
      "{host}/{namespace}/{image}:{tag}",
      "{host}/{namespace}/{image}",
      "https://{host}",
      "https://{host}/{namespace}/{image}:{tag}",
      "http://{host}/{namespace}",
      "{host}",
    );
    const anImage = fc.record({ namespace: part, image_name: part, image_version: part });
    fc.assert(
      fc.property(form, anImage, anImage, (template, seen, other) => {
        const recorded = (parts: typeof seen) =>
          recordedInstanceUrl(template, {
            image_type: "instance_image",
            instance_id: "i-1",
            host: HOST,
            ...parts,
          });
        const learned = formOf(recorded(seen), seen) as string;
        expect(applyForm(learned, other)).toBe(recorded(other));
      }),
      seeded(500),
    );
  });
});

describe("configuredUrlOf", () => {
  it("finds the URL of SWR_INSTANCE_URL or of SWR_INSTANCES, and none for an instance without", () => {
    const swr = {
      defaultInstance: { id: "a", url: "https://a.example.com" },
      instancesByHost: {
        "b.example.com": { id: "b", url: "https://b.example.com" },
        "c.example.com": { id: "c" },
      },
    };
    expect(configuredUrlOf(swr, "a")).toBe("https://a.example.com");
    expect(configuredUrlOf(swr, "b")).toBe("https://b.example.com");
    expect(configuredUrlOf(swr, "c")).toBeUndefined();
  });
});
