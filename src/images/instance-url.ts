import { HSS_FIELD_MAX, type ScanTarget } from "./scan-target";

/**
 * The form of an SWR Enterprise image's `instance_url`, as HSS records it. No page of HSS defines
 * the field ("URL to download the enterprise image", 0–256 characters), but every enterprise image
 * HSS lists carries HSS's own value: from one of them the form is read (how the value relates to
 * the image: the registry's address only, the repository without the tag, a scheme…) and from then
 * on applied to every image of that instance. Pure: where forms are kept and when they are learned
 * is src/instance-urls.ts.
 *
 * A form is a template: `{namespace}`, `{image}` and `{tag}` stand for the image's own parts,
 * everything else (scheme, the registry address HSS knows the instance by) is taken literally
 * from HSS's value.
 */

/** What the function sends when it knows nothing better: the image's pull reference. */
export const GUESSED_FORM = "{host}/{namespace}/{image}:{tag}";

/** A form learned from HSS's records of an instance's images. */
export interface LearnedForm {
  template: string;
  /** When it was learned (epoch ms). */
  learned_at: number;
  /** The value HSS listed it from, and the image it listed it for. */
  hss_value: string;
  image: string;
  /** What the function sent (or would have sent) for that image, when it differed. */
  sent?: string;
}

/** Where the instance_url of an instance's images comes from. */
export type InstanceUrlSource = "configured" | "learned" | "guessed";

/** The parts of the SWR settings that name instances (Config["swr"], structurally). */
export interface SwrInstances {
  defaultInstance?: { id: string; url?: string };
  instancesByHost: Record<string, { id: string; url?: string }>;
}

/** The URL configured for an instance (SWR_INSTANCE_URL, SWR_INSTANCES with a `url`), if any. */
export function configuredUrlOf(swr: SwrInstances, instanceId: string): string | undefined {
  if (swr.defaultInstance?.id === instanceId && swr.defaultInstance.url) {
    return swr.defaultInstance.url;
  }
  for (const instance of Object.values(swr.instancesByHost)) {
    if (instance.id === instanceId && instance.url) return instance.url;
  }
  return undefined;
}

/** The registry hosts SWR_INSTANCES maps to an instance. */
export function hostsOf(swr: SwrInstances, instanceId: string): string[] {
  return Object.entries(swr.instancesByHost)
    .filter(([, instance]) => instance.id === instanceId)
    .map(([host]) => host);
}

type ImageParts = Pick<ScanTarget, "namespace" | "image_name" | "image_version">;

/**
 * The form of `hssValue`, HSS's instance_url for `image`: the longest of the image's own endings
 * (`/namespace/name:tag`, `/namespace/name`, `/namespace`) it ends with becomes placeholders, the
 * rest stays as HSS wrote it. Undefined for a value that cannot be a template (braces in it).
 */
export function formOf(hssValue: string, image: ImageParts): string | undefined {
  if (/[{}]/.test(hssValue) || hssValue.length === 0) return undefined;
  const { namespace, image_name, image_version } = image;
  const endings: Array<[string, string]> = [
    [`/${namespace}/${image_name}:${image_version}`, "/{namespace}/{image}:{tag}"],
    [`/${namespace}/${image_name}`, "/{namespace}/{image}"],
    [`/${namespace}`, "/{namespace}"],
  ];
  for (const [ending, placeholders] of endings) {
    if (hssValue.endsWith(ending)) return `${hssValue.slice(0, -ending.length)}${placeholders}`;
    // The value is the ending itself, without anything before it.
    if (`/${hssValue}` === ending) return placeholders.slice(1);
  }
  return hssValue;
}

/** The instance_url of `image` in a learned form; undefined when it would break HSS's limits. */
export function applyForm(template: string, image: ImageParts): string | undefined {
  const value = template
    .replaceAll("{namespace}", image.namespace)
    .replaceAll("{image}", image.image_name)
    .replaceAll("{tag}", image.image_version);
  return value.length >= 1 && value.length <= HSS_FIELD_MAX && !value.includes("{host}")
    ? value
    : undefined;
}

export interface InstanceUrlStatus {
  instance_id: string;
  source: InstanceUrlSource;
  /** The form in use: a URL when configured, a template otherwise. */
  form: string;
  learned_at?: string;
  hss_value?: string;
}

/** How a source reads in a status line. */
export function describeSource(status: InstanceUrlStatus): string {
  if (status.source === "configured") return "configured (SWR_INSTANCES / SWR_INSTANCE_URL)";
  if (status.source === "learned") {
    return `learned from HSS at ${status.learned_at} (HSS listed ${JSON.stringify(status.hss_value)})`;
  }
  return "guessed: the pull reference, until HSS lists an image of the instance";
}
