import { failureFieldsOf, toSignedCallError } from "./cloud/signed-client";
import type { HssApiClient, RegistryImage } from "./hss/apis";
import type { ScanBatch } from "./hss/batch-scan-request";
import type { CallBudget } from "./hss/call-budget";
import {
  applyForm,
  configuredUrlOf,
  formOf,
  GUESSED_FORM,
  hostsOf,
  type InstanceUrlStatus,
  type LearnedForm,
  type SwrInstances,
} from "./images/instance-url";
import { describeTarget, type ScanTarget } from "./images/scan-target";
import { firstInProcess, type Logger } from "./log";
import type { WatchStore } from "./queue/scan-queue";
import { registryHostOf } from "./scan-plan";

export type { InstanceUrlStatus };

/**
 * The instance_url sent for SWR Enterprise images: configured (SWR_INSTANCE_URL, SWR_INSTANCES
 * with a `url`) wins; otherwise the form learned from HSS's own records of the instance's images
 * (images/instance-url.ts); otherwise the guess, the image's pull reference. Forms are kept in the
 * queue's store (`instance-url:<instance id>`), so every function instance uses what one learned,
 * and in this process's memory without a queue.
 *
 * Learning happens wherever HSS lists an enterprise image (the follow-up, the lookup before a scan
 * task, the `scan` command, `check-deploy`, and one list call after HSS refused a request): HSS's
 * value is compared with what was (or would be) sent, and a different form is kept and logged
 * (`instance_url_learned`) by the instance that saw it first.
 */

/** The store forms are kept in: the queue's small values (WatchStore.keep/kept). */
export type FormStore = Pick<WatchStore, "keep" | "kept">;

/** How long a learned form is kept without being seen again. */
export const FORM_TTL_MS = 365 * 24 * 3_600_000;

const keyOf = (instanceId: string) => `instance-url:${instanceId}`;

/** One enterprise image as HSS listed it, and the value the function sent for it, if it did. */
export interface Sighting {
  target: ScanTarget;
  item: Pick<RegistryImage, "instance_url">;
  sent?: string;
}

export class InstanceUrls {
  /** Forms read in this invocation: a store read per instance, not per batch. */
  private readonly read = new Map<string, LearnedForm | undefined>();

  constructor(
    private readonly store: FormStore,
    private readonly swr: SwrInstances,
    private readonly log: Logger,
    /** True the first time a key is asked about in this function instance (warnings said once). */
    private readonly firstTime: (key: string) => boolean = firstInProcess,
    private readonly now: () => number = Date.now,
  ) {}

  isConfigured(instanceId: string): boolean {
    return configuredUrlOf(this.swr, instanceId) !== undefined;
  }

  /** The learned form of an instance, or undefined (none learned, or a URL is configured). */
  async formOf(instanceId: string): Promise<LearnedForm | undefined> {
    if (configuredUrlOf(this.swr, instanceId)) return undefined;
    if (this.read.has(instanceId)) return this.read.get(instanceId);
    // The store not reachable (Redis down: pushes go out directly): the guess, read again later.
    let kept: string | undefined;
    try {
      kept = await this.store.kept(keyOf(instanceId));
    } catch {
      return undefined;
    }
    const form = kept ? parseForm(kept) : undefined;
    this.read.set(instanceId, form);
    return form;
  }

  /**
   * The instance_url this invocation sends for `target`: HSS's own value where one is given,
   * the configured URL (already on the target), the learned form, or what the target carries.
   */
  async urlFor(target: ScanTarget, hssValue?: string): Promise<string | undefined> {
    if (!target.instance_id) return target.instance_url;
    if (configuredUrlOf(this.swr, target.instance_id)) return target.instance_url;
    if (hssValue) return hssValue;
    const form = await this.formOf(target.instance_id);
    return (form && applyForm(form.template, target)) ?? target.instance_url;
  }

  /** A batch with each enterprise image's instance_url as it is to be sent. */
  async name(batch: ScanBatch, hssValues?: (target: ScanTarget) => string | undefined) {
    if (!("image_info_list" in batch)) return batch;
    const image_info_list = await Promise.all(
      batch.image_info_list.map(async (target) => {
        const url = await this.urlFor(target, hssValues?.(target));
        if (url === target.instance_url) return target;
        return { ...target, instance_url: url };
      }),
    );
    return { ...batch, image_info_list } as ScanBatch;
  }

  /**
   * HSS listed these enterprise images: a form that differs from the one in use is kept and
   * logged; a configured URL HSS disagrees with is warned about. Returns the instances whose form
   * changed.
   */
  async observe(sightings: readonly Sighting[]): Promise<string[]> {
    const changed: string[] = [];
    for (const { target, item, sent } of sightings) {
      const id = target.instance_id;
      const hssValue = item.instance_url;
      if (!id || !hssValue || changed.includes(id)) continue;
      const configured = configuredUrlOf(this.swr, id);
      if (configured) {
        this.warnMismatch(id, configured, hssValue, target);
        continue;
      }
      const template = formOf(hssValue, target);
      const current = await this.formOf(id);
      if (!template || current?.template === template) continue;
      const wouldSend = sent ?? (await this.urlFor(target));
      const form: LearnedForm = {
        template,
        learned_at: this.now(),
        hss_value: hssValue,
        image: describeTarget(target),
        ...(wouldSend !== hssValue && wouldSend ? { sent: wouldSend } : {}),
      };
      // Used in this invocation even when the store cannot keep it now; learned again later.
      await this.store.keep(keyOf(id), JSON.stringify(form), FORM_TTL_MS).catch(() => undefined);
      this.read.set(id, form);
      changed.push(id);
      // Confirmed: HSS records what the function sends (when it is known what that would be).
      const confirmed = wouldSend === hssValue;
      this.log[confirmed && current ? "debug" : "info"](
        confirmed ? "instance_url_confirmed" : "instance_url_learned",
        {
          instance_id: id,
          image: form.image,
          hss_value: hssValue,
          ...(form.sent ? { sent: form.sent } : {}),
          form: template,
          previous_form: current?.template ?? `${GUESSED_FORM} (the pull reference)`,
          message: confirmed
            ? `HSS records this instance's images as the function names them (${template})`
            : `HSS records this instance's images with instance_url ${JSON.stringify(hssValue)}${form.sent ? `, not ${JSON.stringify(form.sent)}` : ""}: its form ${template} is sent from now on`,
        },
      );
    }
    return changed;
  }

  private warnMismatch(id: string, configured: string, hssValue: string, target: ScanTarget) {
    if (configured === hssValue || !this.firstTime(`instance_url_mismatch:${id}`)) return;
    this.log.warn("instance_url_mismatch", {
      instance_id: id,
      configured,
      hss_value: hssValue,
      image: describeTarget(target),
      message: `the configured URL of instance ${id} (SWR_INSTANCES or SWR_INSTANCE_URL) differs from HSS's own record of its images; the configured URL is sent. Remove it to let the function use HSS's form.`,
    });
  }

  /**
   * One listed image of each instance (ListRegistryImages, one call each, within the list API's
   * budget), observed: what `check-deploy` and a refused request use to learn a form before the
   * follow-up would.
   */
  async learnFromHss(
    instanceIds: readonly string[],
    options: {
      hss: HssApiClient;
      budget: CallBudget;
      /** The registry host of each instance's pushes, where known (what the guess is built on). */
      hosts?: ReadonlyMap<string, string>;
    },
  ): Promise<Array<{ instance_id: string; outcome: LearnOutcome; detail?: string }>> {
    const outcomes: Array<{ instance_id: string; outcome: LearnOutcome; detail?: string }> = [];
    for (const instanceId of instanceIds) {
      const slot = await options.budget.take("list-images");
      if (!slot.granted) {
        outcomes.push({ instance_id: instanceId, outcome: "budget" });
        continue;
      }
      try {
        const page = await options.hss.listRegistryImages({
          image_type: "instance_image",
          instance_id: instanceId,
          limit: 1,
        });
        const item = page.data_list.find((listed) => listed.instance_url);
        if (!item) {
          outcomes.push({ instance_id: instanceId, outcome: "no_images" });
          continue;
        }
        const target = { ...targetOfItem(item), instance_id: instanceId };
        const sent = this.guessFor(target, options.hosts?.get(instanceId));
        const changed = await this.observe([{ target, item, ...(sent ? { sent } : {}) }]);
        outcomes.push({
          instance_id: instanceId,
          outcome: changed.length > 0 ? "learned" : "known",
          detail: item.instance_url ?? undefined,
        });
      } catch (error) {
        const failure = failureFieldsOf(toSignedCallError(error));
        outcomes.push({
          instance_id: instanceId,
          outcome: "failed",
          detail: `${failure.error_code}: ${failure.error_msg}`,
        });
      }
    }
    return outcomes;
  }

  /** What the function would send for an image it knows only from HSS's list. */
  private guessFor(target: ScanTarget, pushedTo?: string): string | undefined {
    const id = target.instance_id ?? "";
    const host = pushedTo ?? hostsOf(this.swr, id)[0];
    return host
      ? `${host}/${target.namespace}/${target.image_name}:${target.image_version}`
      : undefined;
  }
}

/**
 * After HSS refused a batch carrying enterprise images: one listed image of each of their
 * instances read (no more than once per instance in `tried`); true when a form changed.
 */
export async function relearnAfterRefusal(
  targets: readonly ScanTarget[],
  tried: Set<string>,
  options: { urls: InstanceUrls; hss: () => Promise<HssApiClient>; budget: CallBudget },
): Promise<boolean> {
  const instances = [
    ...new Set(targets.flatMap((target) => (target.instance_id ? [target.instance_id] : []))),
  ].filter((id) => !tried.has(id) && !options.urls.isConfigured(id));
  // An instance whose form HSS showed already: its refusal is not about instance_url.
  const guessed = [];
  for (const id of instances) if (!(await options.urls.formOf(id))) guessed.push(id);
  if (guessed.length === 0) return false;
  for (const id of guessed) tried.add(id);
  const hosts = new Map<string, string>();
  for (const target of targets) {
    const host = registryHostOf(target.instance_url);
    if (target.instance_id && host) hosts.set(target.instance_id, host);
  }
  const outcomes = await options.urls.learnFromHss(guessed, {
    hss: await options.hss(),
    budget: options.budget,
    hosts,
  });
  return outcomes.some((outcome) => outcome.outcome === "learned");
}

/** The form in use for each instance, and where it came from (check-deploy, queue status). */
export async function instanceUrlStatus(
  store: FormStore,
  swr: SwrInstances,
  instanceIds: readonly string[],
): Promise<InstanceUrlStatus[]> {
  return Promise.all(
    instanceIds.map(async (instance_id): Promise<InstanceUrlStatus> => {
      const configured = configuredUrlOf(swr, instance_id);
      if (configured) return { instance_id, source: "configured", form: configured };
      const kept = await store.kept(keyOf(instance_id));
      const form = kept ? parseForm(kept) : undefined;
      if (!form) return { instance_id, source: "guessed", form: GUESSED_FORM };
      return {
        instance_id,
        source: "learned",
        form: form.template,
        learned_at: new Date(form.learned_at).toISOString(),
        hss_value: form.hss_value,
      };
    }),
  );
}

export type LearnOutcome = "learned" | "known" | "no_images" | "budget" | "failed";

/** The instances the configuration names (SWR_INSTANCE_ID, SWR_INSTANCES, SWR_WIRE_INSTANCES). */
export function configuredInstanceIds(swr: SwrInstances, wired: readonly string[] = []): string[] {
  const ids = [
    ...(swr.defaultInstance ? [swr.defaultInstance.id] : []),
    ...Object.values(swr.instancesByHost).map((instance) => instance.id),
    ...wired,
  ];
  return [...new Set(ids)];
}

function targetOfItem(item: RegistryImage): ScanTarget {
  return {
    namespace: item.namespace ?? "",
    image_name: item.image_name ?? "",
    image_version: item.image_version ?? "",
  };
}

function parseForm(text: string): LearnedForm | undefined {
  try {
    const value = JSON.parse(text) as Partial<LearnedForm>;
    return typeof value.template === "string" && typeof value.learned_at === "number"
      ? (value as LearnedForm)
      : undefined;
  } catch {
    return undefined;
  }
}
