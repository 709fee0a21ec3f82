import { isObject } from "../variables";
import type { PayloadIssue } from "./invalid-payload";
import type { PushedImage } from "./registry-event";

/**
 * `event_data` of a Harbor / SWR Enterprise Edition artifact event. The Default format carries it
 * as `event_data`, the CloudEvents format as `data`. Harbor omits or nulls fields freely, so
 * everything but the repository's identity is optional.
 *
 * Read by hand rather than with a schema: every push goes through it on the cold path, and the
 * shape is small (docs/performance.md).
 */
export interface HarborEventData {
  resources: Array<{ digest?: string; tag?: string; resource_url?: string }>;
  repository: { namespace: string; fullName: string };
}

export type EventDataResult =
  | { success: true; data: HarborEventData }
  | { success: false; error: { issues: PayloadIssue[] } };

/** A field Harbor may omit or null: text when it is non-empty text, else undefined. */
function maybeText(
  record: Record<string, unknown>,
  field: string,
  path: PropertyKey[],
  issues: PayloadIssue[],
): string | undefined {
  const value = record[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") {
    issues.push({ path: [...path, field], message: `expected text, got ${typeof value}` });
    return undefined;
  }
  return value || undefined;
}

function resourcesOf(value: unknown, issues: PayloadIssue[]): HarborEventData["resources"] {
  // Harbor 1.x sends `"resources": null` for a push whose resources all lacked tags: nothing to
  // scan, not a malformed event (which Harbor 1.x would redeliver ten times).
  if (value === null) return [];
  if (!Array.isArray(value)) {
    issues.push({ path: ["resources"], message: "expected a list of resources" });
    return [];
  }
  if (value.length === 0) {
    issues.push({ path: ["resources"], message: "a push event lists at least one resource" });
  }
  return value.flatMap((resource, index) => {
    const path = ["resources", index];
    if (!isObject(resource)) {
      issues.push({ path, message: "expected an object" });
      return [];
    }
    const read = {
      digest: maybeText(resource, "digest", path, issues),
      tag: maybeText(resource, "tag", path, issues),
      resource_url: maybeText(resource, "resource_url", path, issues),
    };
    return [read];
  });
}

function repositoryOf(value: unknown, issues: PayloadIssue[]) {
  if (!isObject(value)) {
    issues.push({ path: ["repository"], message: "expected an object" });
    return undefined;
  }
  const path = ["repository"];
  const name = maybeText(value, "name", path, issues);
  const given = maybeText(value, "namespace", path, issues);
  const fullName =
    maybeText(value, "repo_full_name", path, issues) ??
    (given && name ? `${given}/${name}` : undefined);
  const namespace = given ?? fullName?.split("/")[0];
  if (!fullName || !namespace || fullName === namespace) {
    issues.push({
      path,
      message: "needs repo_full_name (namespace/name) or both namespace and name",
    });
    return undefined;
  }
  return { namespace, fullName };
}

/** Reads `event_data`: the push's resources and repository, or every issue found in it. */
export function readHarborEventData(value: unknown): EventDataResult {
  if (!isObject(value)) {
    return { success: false, error: { issues: [{ path: [], message: "expected an object" }] } };
  }
  const issues: PayloadIssue[] = [];
  const resources = resourcesOf(value.resources, issues);
  const repository = repositoryOf(value.repository, issues);
  if (issues.length > 0 || !repository) return { success: false, error: { issues } };
  return { success: true, data: { resources, repository } };
}

export function pushedImagesOf(eventData: HarborEventData): PushedImage[] {
  const { namespace, fullName } = eventData.repository;
  return eventData.resources.map((resource) => ({
    namespace,
    repository: fullName,
    tag: resource.tag,
    digest: resource.digest,
    resourceUrl: resource.resource_url,
  }));
}
