import { createServer } from "node:http";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSignedClient } from "../../../src/cloud/signed-client";
import { EMULATOR_KEY } from "../../../src/emulator/hss-emulator";
import { flattenHeaders, readBody, serveOnLoopback } from "../../../src/emulator/http";
import { verifySignature } from "../../../src/emulator/signature";
import { type ImageRef, lookUp, refKey } from "../../../src/follow-up/lookup";
import { hssApiClient, readRegistryImages, readVulnerabilities } from "../../../src/hss/apis";
import { MemoryCallBudget } from "../../../src/hss/call-budget";
import { seeded } from "../../support/property";

/**
 * In HSS's SDK models every answer field is optional: whatever fields an answer leaves out or
 * sends as null, an image it lists (one whose namespace, name and tag it gives) is never lost.
 */

/** A field as an answer may carry it: left out (the key absent), null, or a value. */
const field = <T>(value: fc.Arbitrary<T>) => fc.option(value, { nil: null });
const name = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,11}$/);

/** The optional fields of RegistryImagesInfo other than the three that identify the image. */
const otherImageFields = {
  id: field(fc.nat()),
  image_id: field(fc.string()),
  image_digest: field(fc.string()),
  image_type: field(fc.constantFrom("private_image", "shared_image", "instance_image")),
  registry_id: field(fc.string()),
  registry_name: field(fc.string()),
  registry_type: field(fc.constantFrom("SwrPrivate", "SwrEnterprise")),
  instance_id: field(fc.string()),
  instance_name: field(fc.string()),
  instance_url: field(fc.string()),
  latest_version: field(fc.boolean()),
  scan_status: field(fc.constantFrom("unscan", "scanning", "success", "failed")),
  scan_failed_code: field(fc.string()),
  scan_failed_desc: field(fc.string()),
  vul_num: field(fc.nat()),
  unsafe_setting_num: field(fc.nat()),
  malicious_file_num: field(fc.nat()),
  severity_level: field(fc.constantFrom("Security", "Low", "Medium", "High")),
  latest_scan_time: field(fc.nat()),
  latest_sync_time: field(fc.nat()),
  latest_update_time: field(fc.nat()),
  // A field HSS may add one day, of any shape.
  added_later: fc.jsonValue(),
};

/** An item that names its image. */
const listedImage = fc.record(
  {
    namespace: name,
    image_name: name,
    image_version: name,
    ...otherImageFields,
  },
  { requiredKeys: ["namespace", "image_name", "image_version"] },
);

/** An item that does not say which image it is: an identifying field missing, null or empty. */
const oddImage = fc
  .tuple(
    fc.record(
      { namespace: name, image_name: name, image_version: name, ...otherImageFields },
      { requiredKeys: [] },
    ),
    fc.constantFrom("namespace", "image_name", "image_version"),
    fc.constantFrom("missing", null, "", 7),
  )
  .map(([item, identity, how]) => {
    const out: Record<string, unknown> = { ...item };
    if (how === "missing") delete out[identity];
    else out[identity] = how;
    return out;
  });

const identityOf = (item: Record<string, unknown>) =>
  JSON.stringify([item.namespace, item.image_name, item.image_version]);

describe("reading a page of ListRegistryImages", () => {
  it("uses every item that names its image, whatever else is missing or null, and counts the rest", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            listedImage.map((item) => ({ item, listed: true })),
            oddImage.map((item) => ({ item, listed: false })),
          ),
        ),
        fc.option(fc.nat(), { nil: undefined }),
        (items, total) => {
          const page = readRegistryImages({
            ...(total === undefined ? {} : { total_num: total }),
            data_list: items.map(({ item }) => item),
          });
          const listed = items.filter((entry) => entry.listed).map(({ item }) => item);
          expect(page.data_list.map(identityOf)).toEqual(listed.map(identityOf));
          expect(page.skipped).toHaveLength(items.length - listed.length);
          expect(page.received).toBe(items.length);
        },
      ),
      seeded(300),
    );
  });

  it("reads a page whose data_list or total_num is left out or null as an empty page", () => {
    for (const body of [{}, { data_list: null }, { total_num: null, data_list: [] }, undefined]) {
      expect(readRegistryImages(body)).toMatchObject({ data_list: [], received: 0 });
    }
  });

  it("keeps a vulnerability that has its id, and skips one without", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record(
            { vul_id: field(fc.string()), description: field(fc.string()) },
            { requiredKeys: [] },
          ),
        ),
        (items) => {
          const page = readVulnerabilities({ data_list: items });
          const usable = items.filter(
            (item) => typeof item.vul_id === "string" && item.vul_id !== "",
          );
          expect(page.data_list.map((item) => item.vul_id)).toEqual(
            usable.map((item) => item.vul_id),
          );
        },
      ),
      seeded(),
    );
  });
});

/**
 * A loopback stand-in for ListRegistryImages serving whatever list a run generated: it checks the
 * signature, filters an exact lookup by its names, and pages by offset and limit.
 */
let served: Array<Record<string, unknown>> = [];
let stand: { url: string; close(): Promise<void> };
beforeAll(async () => {
  const server = createServer(async (req, res) => {
    const { body } = await readBody(req, 1024 * 1024);
    const headers = flattenHeaders(req);
    const signature = verifySignature(
      { method: req.method ?? "", url: req.url ?? "/", headers, body },
      [EMULATOR_KEY],
    );
    if (!signature.valid) return res.writeHead(401).end();
    const query = new URL(req.url ?? "/", "http://stand-in").searchParams;
    const exact = ["namespace", "image_name", "image_version"].every((name) => query.has(name));
    // What HSS's own filter would select; an odd item (its fields left out in the answer) may be
    // anything, so it comes with every answer.
    const selected = served.filter(
      (item) =>
        !exact ||
        typeof item.image_version !== "string" ||
        typeof item.namespace !== "string" ||
        typeof item.image_name !== "string" ||
        ["namespace", "image_name", "image_version"].every(
          (name) => item[name] === query.get(name),
        ),
    );
    const offset = Number(query.get("offset") ?? 0);
    const limit = Number(query.get("limit") ?? 10);
    res.writeHead(200, { "content-type": "application/json" }).end(
      JSON.stringify({
        total_num: selected.length,
        data_list: selected.slice(offset, offset + limit),
      }),
    );
  });
  stand = await serveOnLoopback(server);
});
afterAll(() => stand.close());

describe("looking images up in answers with fields left out", () => {
  it("finds every watched image HSS lists, and judges unlisted only those it does not", async () => {
    const hss = hssApiClient({
      caller: createSignedClient({
        endpoint: stand.url,
        projectId: "p",
        credentials: { ...EMULATOR_KEY, securityToken: undefined },
      }),
      timeoutMs: 2000,
    });
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(listedImage, { selector: identityOf, maxLength: 150 }),
        fc.array(oddImage, { maxLength: 40 }),
        fc.array(fc.tuple(name, name, name), { maxLength: 5 }),
        fc.nat(),
        async (listed, odd, absent, seed) => {
          // The list in some order, odd items among the listed ones.
          served = [...listed, ...odd].sort(
            (a, b) => hash(a, seed) - hash(b, seed) || identityOf(a).localeCompare(identityOf(b)),
          );
          const listedKeys = new Set(listed.map(identityOf));
          const refs: ImageRef[] = [
            ...listed.filter((_, index) => index % 2 === 0),
            ...absent
              .map(([namespace, image_name, image_version]) => ({
                namespace,
                image_name,
                image_version,
              }))
              .filter((target) => !listedKeys.has(identityOf(target))),
          ].map((item) => ({
            image_type: "private_image",
            target: {
              namespace: item.namespace as string,
              image_name: item.image_name as string,
              image_version: item.image_version as string,
            },
          }));
          const result = await lookUp(refs, {
            hss,
            budget: new MemoryCallBudget(1000),
            deadline: Date.now() + 10_000,
          });
          for (const ref of refs) {
            const found = result.found.get(refKey(ref));
            if (listedKeys.has(identityOf(ref.target))) {
              expect(found && identityOf(found)).toBe(identityOf(ref.target));
            } else {
              expect(found).toBeNull();
            }
          }
        },
      ),
      seeded(60),
    );
  });
});

function hash(item: Record<string, unknown>, seed: number): number {
  let value = seed;
  for (const char of JSON.stringify(item)) value = (value * 31 + char.charCodeAt(0)) >>> 0;
  return value;
}
