import type { Config } from "./config";
import { httpError } from "./errors";
import type { ManualScanRequest } from "./formats/hss-scan-request";
import type { PushedImage } from "./formats/registry-event";
import {
  describeTarget,
  type ImageType,
  isScanTarget,
  type OperateAllFilters,
  type ScanBatch,
  type ScanTarget,
  scanTargetSchema,
  targetKey,
} from "./hss/batch-scan-request";
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
}

/** What decides a push's targets: the scan policy, and where instance ids come from. */
export interface PushPlanContext {
  /** `instance_id` query parameter of the webhook URL (one webhook URL per instance). */
  queryInstanceId?: string;
  swr: Config["swr"];
  policy?: ScanPolicy;
}

export function planPushScans(images: PushedImage[], context: PushPlanContext): ScanPlan {
  const plan = new PlanBuilder("instance_image");
  const unresolvedHosts = new Set<string>();
  for (const image of images) {
    const label = imageLabel(image);
    if (!image.tag) {
      plan.skip(label, "no-tag", "the push has no tag; HSS scans images by tag");
      continue;
    }
    // Docker tags cannot contain ":"; a tag that does is a digest (digest push, robot accounts).
    if (image.tag.includes(":")) {
      plan.skip(
        label,
        "digest",
        `pushed by digest (${image.tag.slice(0, 19)}…), not by tag; HSS scans images by tag`,
      );
      continue;
    }
    const imageName = image.repository.startsWith(`${image.namespace}/`)
      ? image.repository.slice(image.namespace.length + 1)
      : image.repository;
    const excluded = context.policy?.check({
      namespace: image.namespace,
      repository: imageName,
      tag: image.tag,
    });
    if (excluded) {
      plan.skip(label, excluded.rule, excluded.reason);
      continue;
    }
    const host = registryHostOf(image.resourceUrl);
    const instance = resolveInstance(host, context);
    if (!instance) {
      unresolvedHosts.add(host ?? "(unknown registry)");
      continue;
    }
    plan.add(
      label,
      {
        namespace: image.namespace,
        image_name: imageName,
        image_version: image.tag,
        instance_id: instance.id,
        instance_url: instance.url ?? image.resourceUrl,
      },
      image.digest,
    );
  }
  if (unresolvedHosts.size > 0) {
    throw httpError(
      422,
      `no SWR Enterprise instance id for registry ${[...unresolvedHosts].join(", ")}: ` +
        "add ?instance_id=<instance id> to the webhook URL, or set SWR_INSTANCE_ID (one instance) " +
        'or SWR_INSTANCES ({"<registry host>": "<instance id>"}); nothing was sent to HSS',
    );
  }
  return plan.build();
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

  constructor(private readonly imageType: ImageType) {}

  skip(image: string, rule: string, reason: string): void {
    this.skipped.push({ image, rule, reason });
  }

  /** Adds a target after checking it against HSS's field rules; skips invalid ones and duplicates. */
  add(label: string, candidate: Record<string, unknown>, digest?: string): void {
    if (!isScanTarget(candidate)) {
      const issue = scanTargetSchema.safeParse(candidate).error?.issues[0];
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
    return plan;
  }
}

function resolveInstance(host: string | undefined, context: PushPlanContext) {
  const configured = (host && context.swr.instancesByHost[host]) || context.swr.defaultInstance;
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
