import "../zod-setup";
import * as z from "zod/mini";
import type { PushedImage } from "./registry-event";

/**
 * `event_data` of a Harbor / SWR Enterprise Edition artifact event. The Default format carries it
 * as `event_data`, the CloudEvents format as `data`. Harbor omits or nulls fields freely, so
 * everything but the repository's identity is optional.
 */
const maybeText = z.pipe(
  z.nullish(z.string()),
  z.transform((value) => (value ? value : undefined)),
);

const harborResource = z.object({
  digest: maybeText,
  tag: maybeText,
  resource_url: maybeText,
});

const harborRepository = z.pipe(
  z.object({
    name: maybeText,
    namespace: maybeText,
    repo_full_name: maybeText,
  }),
  z.transform((repository, ctx) => {
    const fullName =
      repository.repo_full_name ??
      (repository.namespace && repository.name
        ? `${repository.namespace}/${repository.name}`
        : undefined);
    const namespace = repository.namespace ?? fullName?.split("/")[0];
    if (!fullName || !namespace || fullName === namespace) {
      ctx.issues.push({
        code: "custom",
        input: repository,
        message: "needs repo_full_name (namespace/name) or both namespace and name",
      });
      return z.NEVER;
    }
    return { namespace, fullName };
  }),
);

export const harborEventDataSchema = z.object({
  // Harbor 1.x sends `"resources": null` for a push whose resources all lacked tags: nothing to
  // scan, not a malformed event (which Harbor 1.x would redeliver ten times).
  resources: z.pipe(
    z.nullable(
      z.array(harborResource).check(z.minLength(1, "a push event lists at least one resource")),
    ),
    z.transform((resources) => resources ?? []),
  ),
  repository: harborRepository,
});

export type HarborEventData = z.infer<typeof harborEventDataSchema>;

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
