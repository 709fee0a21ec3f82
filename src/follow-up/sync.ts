import { classifyFailure, failureFieldsOf, toSignedCallError } from "../cloud/signed-client";
import type { Config } from "../config";
import type { HssApiClient } from "../hss/apis";
import type { CallBudget, HssApi } from "../hss/call-budget";
import type { Logger } from "../log";
import type { WatchStore } from "../queue/scan-queue";
import { registryHostOf } from "../scan-plan";
import type { ImageRef } from "./lookup";

/**
 * Asks HSS to sync the registries of images it does not list yet, at most once per budget window
 * for each registry, however many images wait on it:
 * - SWR Enterprise: CreateImageSynchronizeTask for the instance's registry, found with
 *   ListRegistry by its address (the host of the image's instance URL, or the host SWR_INSTANCES
 *   maps to the instance) and named by the `id` HSS lists it with; when HSS lists no registry at
 *   that address, every registry is synced;
 * - SWR basic (private or shared images): RunImageSynchronize for that image type.
 */

export interface SyncOptions {
  hss: HssApiClient;
  budget: CallBudget;
  marks: Pick<WatchStore, "once">;
  swr: Config["swr"];
  log: Logger;
}

export interface SyncRequest {
  registry: string;
  images: number;
  outcome: "requested" | "recently_requested" | "budget" | "failed";
}

/** The address HSS knows an instance's registry by. */
export function registryAddressOf(ref: ImageRef, swr: Config["swr"]): string | undefined {
  const fromUrl = registryHostOf(ref.target.instance_url);
  if (fromUrl) return fromUrl;
  for (const [host, instance] of Object.entries(swr.instancesByHost)) {
    if (instance.id === ref.target.instance_id) return host;
  }
  return undefined;
}

export async function requestSync(
  images: ImageRef[],
  options: SyncOptions,
): Promise<SyncRequest[]> {
  const { budget, log } = options;
  const byRegistry = new Map<string, ImageRef[]>();
  for (const image of images) {
    const key =
      image.image_type === "instance_image"
        ? `instance:${image.target.instance_id ?? ""}`
        : image.image_type;
    byRegistry.set(key, [...(byRegistry.get(key) ?? []), image]);
  }
  const outcomes: SyncRequest[] = [];
  for (const [registry, waiting] of byRegistry) {
    const [first] = waiting;
    if (!first) continue;
    let outcome: SyncRequest["outcome"] = "recently_requested";
    if (await options.marks.once(`sync:${registry}`, budget.windowMs)) {
      const enterprise = first.image_type === "instance_image";
      try {
        const logged = { registry, images: waiting.length };
        outcome = enterprise
          ? await syncInstance(first, logged, options)
          : await syncBasic(first, logged, options);
      } catch (error) {
        const failure = toSignedCallError(error);
        if (classifyFailure(failure) === "throttled") {
          await budget.spendWindow(enterprise ? "sync-task" : "sync-images");
        }
        log.warn("sync_failed", { registry, ...failureFieldsOf(failure) });
        outcome = "failed";
      }
    }
    outcomes.push({ registry, images: waiting.length, outcome });
  }
  return outcomes;
}

type Logged = { registry: string; images: number };

const slot = async (budget: CallBudget, api: HssApi) => (await budget.take(api)).granted;

/** SWR basic: RunImageSynchronize for the image type. */
async function syncBasic(
  first: ImageRef,
  logged: Logged,
  { hss, budget, log }: SyncOptions,
): Promise<SyncRequest["outcome"]> {
  if (!(await slot(budget, "sync-images"))) return "budget";
  const answer = await hss.runImageSynchronize({ image_type: first.image_type });
  log.info("sync_requested", {
    ...logged,
    api: "RunImageSynchronize",
    hss_request_id: answer.requestId,
  });
  return "requested";
}

/** SWR Enterprise: the instance's registry found by its address, or every registry. */
async function syncInstance(
  first: ImageRef,
  logged: Logged,
  options: SyncOptions,
): Promise<SyncRequest["outcome"]> {
  const { hss, budget, log } = options;
  const address = registryAddressOf(first, options.swr);
  let registryId: string | undefined;
  if (address && (await slot(budget, "list-registries"))) {
    const listed = await hss.listRegistry({
      registry_type: "SwrEnterprise",
      registry_addr: address,
      limit: 200,
    });
    // HSS's filter may match more than the address (its matching is not documented): the
    // registry is the one whose address is exactly the instance's. RegistryInfo names its id `id`.
    registryId = listed.data_list.find(
      (entry) => entry.registry_addr?.toLowerCase() === address.toLowerCase(),
    )?.id;
  }
  if (!(await slot(budget, "sync-task"))) return "budget";
  const answer = await hss.createImageSynchronizeTask(
    registryId
      ? {
          sync_all_registries: false,
          registry_info: [{ registry_id: registryId, registry_type: "SwrEnterprise" }],
        }
      : { sync_all_registries: true },
  );
  log.info("sync_requested", {
    registry: logged.registry,
    api: "CreateImageSynchronizeTask",
    registry_id: registryId,
    all_registries: registryId === undefined,
    images: logged.images,
    hss_request_id: answer.requestId,
  });
  return "requested";
}
