import type { EmulatedRegistry } from "./emulated-registry";

/**
 * The emulator's list APIs (ListRegistryImages, ListImageVulnerabilities, ListRegistry,
 * ListImageScanTask), answering in the shapes of HSS's SDK models and refusing what their request
 * models say is out of range. Where the models are silent, the stricter reading is taken, and the
 * comment says so.
 *
 * With `sparse` (HssEmulatorOptions.sparseAnswers) the answers are as thin as the models allow:
 * every answer field is optional there, so an item's fields without a value are left out or sent
 * as null (in turn), and one item in every 21, from the first, says nothing of what it is about
 * (its identifying fields missing, null or empty): a client must use the other items all the same.
 */

export type Query = Record<string, string>;
export type Listed = { body: unknown } | { invalid: string };

/** `offset`: 0–2,000,000 in every list API's model. */
const MAX_OFFSET = 2_000_000;
/** Every list API's `limit` defaults to 10. */
const DEFAULT_LIMIT = 10;

/** Paging as HSS's list APIs take it. */
export function paging(
  query: Query,
  min: number,
  max: number,
): { invalid: string } | { offset: number; limit: number } {
  const offset = query.offset === undefined ? 0 : Number(query.offset);
  const limit = query.limit === undefined ? DEFAULT_LIMIT : Number(query.limit);
  if (!Number.isInteger(offset) || offset < 0 || offset > MAX_OFFSET) {
    return { invalid: `offset must be 0–${MAX_OFFSET}` };
  }
  if (!Number.isInteger(limit) || limit < min || limit > max) {
    return { invalid: `limit must be ${min}–${max}` };
  }
  return { offset, limit };
}

/** A query value that must be one of a model's listed values, when given. */
function oneOf(query: Query, name: string, values: readonly string[]): string | undefined {
  const value = query[name];
  return value === undefined || values.includes(value)
    ? undefined
    : `${name} must be one of ${values.join(", ")}`;
}

/** A time range filter: milliseconds, start ≤ end (end defaults to now, start to 0). */
type Range = { active: boolean; from: number; to: number };

function timeRange(query: Query, field: string): Range | { invalid: string } {
  const start = query[`start_${field}`];
  const end = query[`end_${field}`];
  const read = (value: string | undefined, fallback: number) =>
    value === undefined ? fallback : Number(value);
  const range = { from: read(start, 0), to: read(end, Number.MAX_SAFE_INTEGER) };
  if (![range.from, range.to].every((value) => Number.isInteger(value) && value >= 0)) {
    return { invalid: `start_${field} and end_${field} are milliseconds (integers ≥ 0)` };
  }
  if (range.from > range.to) return { invalid: `start_${field} must be ≤ end_${field}` };
  return { active: start !== undefined || end !== undefined, ...range };
}

const within = (value: number | undefined, range: Range) =>
  !range.active || (value !== undefined && value >= range.from && value <= range.to);

/** How a list's items look when sparse: the fields its model has, and an item that is odd. */
interface Sparse {
  fields: readonly string[];
  odd: (index: number) => object;
}

/** One page of a list, thinned and with odd items when asked. */
function pageOf(
  items: object[],
  page: { offset: number; limit: number },
  sparse: Sparse | undefined,
) {
  const all = sparse
    ? withOddItems(
        items.map((item) => thinned(item, sparse.fields)),
        sparse.odd,
      )
    : items;
  return { total_num: all.length, data_list: all.slice(page.offset, page.offset + page.limit) };
}

const ODD_EVERY = 21;

function withOddItems(items: object[], odd: (index: number) => object): object[] {
  const out: object[] = [];
  for (const [index, item] of items.entries()) {
    if (index % (ODD_EVERY - 1) === 0) out.push(odd(out.length));
    out.push(item);
  }
  if (items.length === 0) out.push(odd(0));
  return out;
}

let thinTurn = 0;
/** The model's fields without a value (absent or "") left out or null, in turn. */
function thinned(item: object, fields: readonly string[]): object {
  const out: Record<string, unknown> = { ...item };
  for (const name of fields) {
    const value = out[name];
    if (value !== undefined && value !== null && value !== "") continue;
    if (thinTurn++ % 2 === 0) out[name] = null;
    else delete out[name];
  }
  return out;
}

/** An identifying field as a thin answer may carry it: missing, null or empty. */
function withoutField(item: Record<string, unknown>, field: string, index: number) {
  const out = { ...item };
  const turn = index % 3;
  if (turn === 0) delete out[field];
  else out[field] = turn === 1 ? null : "";
  return out;
}

/** The fields of the answer models this emulator fills (RegistryImagesInfo, …) when it can. */
const IMAGE_FIELDS = [
  "id",
  "image_id",
  "image_digest",
  "image_type",
  "registry_id",
  "registry_name",
  "registry_type",
  "instance_id",
  "instance_name",
  "instance_url",
  "namespace",
  "image_name",
  "image_version",
  "scan_status",
  "scan_failed_code",
  "scan_failed_desc",
  "vul_num",
  "unsafe_setting_num",
  "malicious_file_num",
  "severity_level",
  "latest_scan_time",
  "latest_sync_time",
  "latest_update_time",
] as const;
const VULNERABILITY_FIELDS = [
  "vul_id",
  "repair_necessity",
  "description",
  "position",
  "app_name",
  "app_path",
  "version",
  "solution",
  "url",
] as const;
const REGISTRY_FIELDS = [
  "id",
  "registry_name",
  "registry_type",
  "registry_addr",
  "status",
  "images_num",
  "latest_sync_time",
] as const;
const TASK_FIELDS = [
  "task_id",
  "task_type",
  "task_status",
  "begin_time",
  "end_time",
  "success_num",
  "failed_num",
  "total_num",
  "failed_images",
] as const;

const IMAGE_TYPES = ["private_image", "shared_image", "instance_image", "harbor", "jfrog"] as const;
/** The `scan_status` filter's values in the request model (its answers have more). */
const SCAN_STATUS_FILTER = ["unscan", "success", "scanning", "failed", "waiting_for_scan"];

function listImagesQueryError(query: Query): string | undefined {
  return (
    oneOf(query, "image_type", IMAGE_TYPES) ??
    oneOf(query, "scan_status", SCAN_STATUS_FILTER) ??
    oneOf(query, "sort_key", ["latest_scan_time"]) ??
    oneOf(query, "sort_dir", ["asc", "desc"]) ??
    oneOf(query, "latest_version", ["true", "false"])
  );
}

const IMAGE_FILTERS = [
  "image_type",
  "instance_id",
  "instance_name",
  "registry_name",
  "namespace",
  "image_name",
  "image_version",
  "scan_status",
] as const;

const TIME_FIELDS = ["latest_scan_time", "latest_sync_time", "latest_update_time"] as const;
type TimeField = (typeof TIME_FIELDS)[number];

/** ListRegistryImages: limit 1–200, filters, time ranges and newest-scans sorting. */
export function listImages(registry: EmulatedRegistry, query: Query, sparse: boolean): Listed {
  const page = paging(query, 1, 200);
  if ("invalid" in page) return page;
  const refused = listImagesQueryError(query);
  if (refused) return { invalid: refused };
  const ranges: Array<[TimeField, Range]> = [];
  for (const field of TIME_FIELDS) {
    const range = timeRange(query, field);
    if ("invalid" in range) return range;
    ranges.push([field, range]);
  }
  const views = registry
    .known()
    .map((record) => registry.view(record))
    .filter(
      (view) =>
        IMAGE_FILTERS.every((name) => query[name] === undefined || view[name] === query[name]) &&
        ranges.every(([field, range]) => within(view[field], range)),
    );
  if (query.sort_key === "latest_scan_time") {
    // The models do not say where an image never scanned goes: first or last, as the emulator
    // was told (HssUnknowns), whatever the direction.
    const direction = query.sort_dir === "desc" ? -1 : 1;
    const unscanned = registry.unknowns.neverScanned === "first" ? -1 : 1;
    views.sort((a, b) => {
      if ((a.latest_scan_time === undefined) !== (b.latest_scan_time === undefined)) {
        return a.latest_scan_time === undefined ? unscanned : -unscanned;
      }
      return direction * ((a.latest_scan_time ?? 0) - (b.latest_scan_time ?? 0)) || a.id - b.id;
    });
  }
  return {
    body: pageOf(
      views,
      page,
      sparse
        ? {
            fields: IMAGE_FIELDS,
            odd: (index) =>
              withoutField(
                { id: 900_000 + index, namespace: "odd", image_name: "odd", image_version: "odd" },
                ["namespace", "image_name", "image_version"][index % 3] as string,
                Math.floor(index / 3),
              ),
          }
        : undefined,
    ),
  };
}

/** ListImageVulnerabilities: the four names required, limit 10–200. */
export function listVulnerabilities(
  registry: EmulatedRegistry,
  imageId: string | undefined,
  query: Query,
  sparse: boolean,
): Listed {
  const page = paging(query, 10, 200);
  if ("invalid" in page) return page;
  for (const required of ["image_type", "namespace", "image_name", "tag_name"]) {
    if (!query[required]) return { invalid: `${required} is required` };
  }
  const refused =
    oneOf(query, "type", ["linux_vul", "app_vul"]) ??
    oneOf(query, "repair_necessity", ["immediate_repair", "delay_repair", "not_needed_repair"]);
  if (refused) return { invalid: refused };
  const record = registry.findById(imageId);
  const found =
    record &&
    record.info.namespace === query.namespace &&
    record.info.image_name === query.image_name &&
    record.info.image_version === query.tag_name
      ? registry
          .vulnerabilities(record)
          .filter(
            (vul) => !query.repair_necessity || vul.repair_necessity === query.repair_necessity,
          )
      : [];
  return {
    body: pageOf(
      found,
      page,
      sparse
        ? {
            fields: VULNERABILITY_FIELDS,
            odd: (index) =>
              withoutField({ vul_id: "CVE-0000-0000", description: "odd" }, "vul_id", index),
          }
        : undefined,
    ),
  };
}

const REGISTRY_TYPES = ["Harbor", "Jfrog", "SwrPrivate", "SwrShared", "SwrEnterprise", "Other"];

/** ListRegistry: limit 10–200; `registry_type` may list several, comma-separated. */
export function listRegistries(registry: EmulatedRegistry, query: Query, sparse: boolean): Listed {
  const page = paging(query, 10, 200);
  if ("invalid" in page) return page;
  const types = query.registry_type?.split(",");
  const unknownType = types?.find((type) => !REGISTRY_TYPES.includes(type));
  if (unknownType !== undefined) {
    return { invalid: `registry_type must list values of ${REGISTRY_TYPES.join(", ")}` };
  }
  const refused = oneOf(query, "status", ["success", "fail", "accessing"]);
  if (refused) return { invalid: refused };
  // The models do not say whether the name and address filters match exactly or in part; the
  // stricter reading for a client: in part, so that it has to pick the exact one itself.
  const found = registry
    .registries()
    .filter(
      (entry) =>
        (!types || types.includes(entry.registry_type)) &&
        (!query.registry_id || entry.id === query.registry_id) &&
        (!query.status || entry.status === query.status) &&
        (!query.registry_name || entry.registry_name.includes(query.registry_name)) &&
        (!query.registry_addr || entry.registry_addr.includes(query.registry_addr)),
    );
  return {
    body: pageOf(
      found,
      page,
      sparse
        ? {
            fields: REGISTRY_FIELDS,
            odd: (index) =>
              withoutField(
                { id: `odd-${index}`, registry_name: "odd", registry_type: "Other" },
                "id",
                index,
              ),
          }
        : undefined,
    ),
  };
}

/** ListImageScanTask: `type` required, limit 10–200. */
export function listTasks(registry: EmulatedRegistry, query: Query, sparse: boolean): Listed {
  const page = paging(query, 10, 200);
  if ("invalid" in page) return page;
  if (query.type !== "image_scan" && query.type !== "image_sync") {
    return { invalid: "type must be image_scan or image_sync" };
  }
  const refused =
    oneOf(query, "task_status", ["scanning", "finished"]) ??
    oneOf(query, "task_type", ["cycle", "manual", "autoSync", "manualSync"]) ??
    oneOf(query, "global_image_type", ["local", "registry"]);
  if (refused) return { invalid: refused };
  const tasks = registry
    .listTasks(query.type)
    .filter(
      (task) =>
        (!query.task_status || (query.task_status === "finished") === (task.task_status === 100)) &&
        (!query.task_type || task.task_type === query.task_type),
    );
  return {
    body: pageOf(
      tasks,
      page,
      sparse
        ? {
            fields: TASK_FIELDS,
            odd: (index) =>
              withoutField({ task_id: `odd-${index}`, task_status: 100 }, "task_id", index),
          }
        : undefined,
    ),
  };
}
