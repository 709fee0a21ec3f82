import type { Config } from "./config";
import type { ManualScanRequest } from "./formats/manual-scan-request";
import type { PushedImage } from "./formats/registry-event";
import type { OperateAllFilters, ScanBatch } from "./hss/batch-scan-request";
import {
  describeTarget,
  HSS_FIELD_MAX,
  type ImageType,
  isScanTarget,
  type ScanTarget,
  scanKey,
  scanTargetSchema,
  targetKey,
} from "./images/scan-target";
import type { NewScan } from "./queue/scan-queue";
import type { ScanPolicy } from "./scan-policy";

/**
 * Pure mapping from what a delivery asks for to what HSS will be asked to scan. No I/O here:
 * every decision (target, duplicate, skip and its reason) is made before anything is sent.
 */

export interface SkippedImage {
  /** The image as the sender named it (pull reference or namespace/name:tag). */
  image: string;
  /** Stable id of the rule that skipped it, e.g. `digest`, `duplicate`, `exclude.tags`. */
  rule: string;
  reason: string;
}

export interface ScanPlan {
  imageType: ImageType;
  targets: ScanTarget[];
  skipped: SkippedImage[];
  /** Set for `operate_all` requests: HSS selects the images itself with these filters. */
  operateAll?: OperateAllFilters;
  /** The pushed digest of each target, by `targetKey`, where the registry said it. */
  digests?: ReadonlyMap<string, string>;
  /** Images whose registry maps to no instance: the delivery is answered 422 so they come again. */
  unmapped?: UnmappedImage[];
  /** Derived values changed so that an image stays scannable. */
  adjusted?: AdjustedValue[];
}

/** What decides a push's targets: the scan policy, and where instance ids come from. */
export interface PushPlanContext {
  /** `instance_id` query parameter of the webhook URL (one webhook URL per instance). */
  queryInstanceId?: string;
  swr: Config["swr"];
  policy?: ScanPolicy;
}

/** An image whose registry host maps to no SWR Enterprise instance: not sent, to be redelivered. */
export interface UnmappedImage {
  image: string;
  registry: string;
}

/** A value the function derived and had to change so that the image stays scannable. */
export interface AdjustedValue {
  image: string;
  field: "instance_url";
  reason: string;
}

// The distribution reference grammar (github.com/distribution/reference): lower-case path
// components separated by "/", and tags of word characters, "." and "-".
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const REPOSITORY_MAX = 255;

/** Why a pushed namespace, repository and tag cannot be a registry reference, or undefined. */
/** An OCI digest: `algorithm:encoded` (sha256:<64 hex>, …). */
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;

export function referenceProblem(image: PushedImage & { tag: string }): string | undefined {
  if (!TAG.test(image.tag)) {
    return `tag ${JSON.stringify(image.tag.slice(0, 60))} is not a valid tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})`;
  }
  if (image.repository.length > REPOSITORY_MAX) {
    return `repository name has ${image.repository.length} characters (at most ${REPOSITORY_MAX})`;
  }
  const bad = image.repository.split("/").find((component) => !PATH_COMPONENT.test(component));
  if (bad !== undefined) {
    return `repository ${JSON.stringify(image.repository.slice(0, 80))} has an invalid path component ${JSON.stringify(bad.slice(0, 40))}`;
  }
  if (!image.repository.startsWith(`${image.namespace}/`)) {
    return `repository ${JSON.stringify(image.repository.slice(0, 80))} is not inside namespace ${JSON.stringify(image.namespace.slice(0, 40))}`;
  }
  return undefined;
}

export function planPushScans(images: PushedImage[], context: PushPlanContext): ScanPlan {
  const plan = new PlanBuilder("instance_image");
  for (const image of images) {
    const label = imageLabel(image);
    const tag = image.tag;
    if (!tag) {
      plan.skip(label, "no-tag", "the push has no tag; HSS scans images by tag");
      continue;
    }
    // A push by digest (robot accounts, `docker push image@sha256:…`) names the digest where the
    // tag goes; anything else that is not a tag (a newline, a space, a stray ":") is not a
    // reference at all, said below.
    if (DIGEST.test(tag)) {
      plan.skip(
        label,
        "digest",
        `pushed by digest (${tag.slice(0, 19)}…), not by tag; HSS scans images by tag`,
      );
      continue;
    }
    const problem = referenceProblem({ ...image, tag });
    if (problem) {
      plan.skip(label, "invalid-reference", `not a registry reference: ${problem}`);
      continue;
    }
    const imageName = image.repository.slice(image.namespace.length + 1);
    const excluded = context.policy?.check({
      namespace: image.namespace,
      repository: imageName,
      tag,
    });
    if (excluded) {
      plan.skip(label, excluded.rule, excluded.reason);
      continue;
    }
    const host = registryHostOf(image.resourceUrl);
    const instance = resolveInstance(host, context);
    if (!instance) {
      plan.unmapped(label, host ?? "(unknown registry)");
      continue;
    }
    plan.add(
      label,
      {
        namespace: image.namespace,
        image_name: imageName,
        image_version: tag,
        instance_id: instance.id,
        instance_url:
          instance.url ??
          derivedInstanceUrl(plan, label, image.resourceUrl, host, instance.id, context),
      },
      image.digest,
    );
  }
  return plan.build();
}

/**
 * instance_url from the push itself, when no URL is configured for the instance: the pull
 * reference. A value derived here must never make an image unscannable: one that HSS would refuse
 * (over 256 characters) falls back to the registry host, one on another instance's registry is
 * left out, and each change is said in the report.
 */
function derivedInstanceUrl(
  plan: PlanBuilder,
  label: string,
  reference: string | undefined,
  host: string | undefined,
  instanceId: string,
  context: PushPlanContext,
): string | undefined {
  if (!reference) return undefined;
  // A pull reference on a registry that SWR_INSTANCES gives to another instance cannot be this
  // instance's download URL; HSS keeps its own record of the instance's URL.
  const owner = host ? context.swr.instancesByHost[host] : undefined;
  if (owner && owner.id !== instanceId) {
    plan.adjust(
      label,
      `the pull reference is on ${host}, which SWR_INSTANCES gives to instance ${owner.id}, not to ${instanceId}; instance_url left out`,
    );
    return undefined;
  }
  if (reference.length <= HSS_FIELD_MAX) return reference;
  plan.adjust(
    label,
    `the pull reference has ${reference.length} characters and HSS takes at most ${HSS_FIELD_MAX}; sent the registry host${host ? ` ${host}` : ""} instead`,
  );
  return host;
}

export function planManualScans(request: ManualScanRequest, swr: Config["swr"]): ScanPlan {
  const { image_type, operate_all, image_info_list, ...filters } = request;
  const plan = new PlanBuilder(image_type);
  if (operate_all) return { ...plan.build(), operateAll: filters };
  for (const [index, entry] of (image_info_list ?? []).entries()) {
    const fields =
      typeof entry === "object" && entry !== null ? (entry as Record<string, unknown>) : {};
    const label = manualLabel(fields, index);
    const instanceId =
      fields.instance_id ?? (image_type === "instance_image" ? swr.defaultInstance?.id : undefined);
    if (image_type === "instance_image" && instanceId === undefined) {
      plan.skip(
        label,
        "instance-id-missing",
        "instance_image entries need an instance_id (or set SWR_INSTANCE_ID)",
      );
      continue;
    }
    plan.add(label, {
      ...fields,
      ...(instanceId === undefined ? {} : { instance_id: instanceId }),
    });
  }
  return plan.build();
}

/**
 * A planned target as one push: what HSS scans plus the pushed digest, under the id that the queue
 * and the memory of accepted pushes both know it by.
 */
export function pushOf(plan: ScanPlan, target: ScanTarget): NewScan {
  const digest = plan.digests?.get(targetKey(target));
  return {
    id: scanKey(plan.imageType, target, digest),
    image_type: plan.imageType,
    target,
    ...(digest ? { digest } : {}),
  };
}

/** Splits a plan into HSS requests of at most `batchSize` images each. */
export function splitIntoBatches(plan: ScanPlan, batchSize: number): ScanBatch[] {
  if (plan.operateAll) {
    return [{ image_type: plan.imageType, operate_all: true, ...plan.operateAll }];
  }
  const batches: ScanBatch[] = [];
  for (let start = 0; start < plan.targets.length; start += batchSize) {
    batches.push({
      image_type: plan.imageType,
      image_info_list: plan.targets.slice(start, start + batchSize),
    });
  }
  return batches;
}

class PlanBuilder {
  private readonly targets: ScanTarget[] = [];
  private readonly skipped: SkippedImage[] = [];
  private readonly seen = new Set<string>();
  private readonly digests = new Map<string, string>();
  private readonly unmappedImages: UnmappedImage[] = [];
  private readonly adjustedValues: AdjustedValue[] = [];

  constructor(private readonly imageType: ImageType) {}

  skip(image: string, rule: string, reason: string): void {
    this.skipped.push({ image, rule, reason });
  }

  unmapped(image: string, registry: string): void {
    this.unmappedImages.push({ image, registry });
  }

  adjust(image: string, reason: string): void {
    this.adjustedValues.push({ image, field: "instance_url", reason });
  }

  /** Adds a target after checking it against HSS's field rules; skips invalid ones and duplicates. */
  add(label: string, candidate: Record<string, unknown>, digest?: string): void {
    if (!isScanTarget(candidate)) {
      const issue = scanTargetSchema().safeParse(candidate).error?.issues[0];
      const field = issue?.path.join(".") || "image";
      this.skip(
        label,
        "hss-field-limits",
        `${field} is not acceptable to HSS: ${issue?.message ?? "invalid"}`,
      );
      return;
    }
    const target: ScanTarget = {
      namespace: candidate.namespace,
      image_name: candidate.image_name,
      image_version: candidate.image_version,
    };
    if (candidate.instance_id !== undefined) target.instance_id = candidate.instance_id;
    if (candidate.instance_url !== undefined) target.instance_url = candidate.instance_url;
    const key = targetKey(target);
    if (this.seen.has(key)) {
      this.skip(
        label,
        "duplicate",
        `duplicate of ${describeTarget(target)} earlier in this delivery`,
      );
      return;
    }
    this.seen.add(key);
    this.targets.push(target);
    if (digest) this.digests.set(key, digest);
  }

  build(): ScanPlan {
    const plan: ScanPlan = {
      imageType: this.imageType,
      targets: this.targets,
      skipped: this.skipped,
    };
    if (this.digests.size > 0) plan.digests = this.digests;
    if (this.unmappedImages.length > 0) plan.unmapped = this.unmappedImages;
    if (this.adjustedValues.length > 0) plan.adjusted = this.adjustedValues;
    return plan;
  }
}

function resolveInstance(host: string | undefined, context: PushPlanContext) {
  const mapped = host ? context.swr.instancesByHost[host] : undefined;
  const configured = mapped || context.swr.defaultInstance;
  if (context.queryInstanceId) {
    const url = configured?.id === context.queryInstanceId ? configured.url : undefined;
    return { id: context.queryInstanceId, url };
  }
  return configured;
}

/**
 * The registry host of a pull reference, by Docker's rule: the first path component is a host
 * when it contains "." or ":" or is "localhost".
 */
export function registryHostOf(reference: string | undefined): string | undefined {
  const slash = reference?.indexOf("/") ?? -1;
  if (!reference || slash <= 0 || slash > 253) return undefined;
  const first = reference.slice(0, slash);
  return /[.:]/.test(first) || first === "localhost" ? first.toLowerCase() : undefined;
}

/** Labels end up in reports and logs: they are capped so that hostile input cannot bloat them. */
const LABEL_MAX = 300;

function imageLabel(image: PushedImage): string {
  const label = image.resourceUrl
    ? image.resourceUrl
    : image.tag
      ? `${image.repository}:${image.tag}`
      : image.digest
        ? `${image.repository}@${image.digest}`
        : image.repository;
  return label.length > LABEL_MAX ? `${label.slice(0, LABEL_MAX)}…` : label;
}

function manualLabel(fields: Record<string, unknown>, index: number): string {
  const part = (value: unknown) => (typeof value === "string" ? value.slice(0, 80) : "?");
  return `image_info_list[${index}] ${part(fields.namespace)}/${part(fields.image_name)}:${part(fields.image_version)}`;
}
