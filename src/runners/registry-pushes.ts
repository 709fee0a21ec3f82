import { loadConfig } from "../config";
import { payloadOf, recogniseDelivery } from "../delivery";
import type { HssEmulator } from "../emulator/hss-emulator";
import { parseRegistryPayload } from "../formats";
import { targetKey } from "../images/scan-target";
import { planPushScans, registryHostOf } from "../scan-plan";

/**
 * The embedded emulator's registry learns of pushes the way HSS does not: `npm start` tells it,
 * for every push delivery it receives, that the images were pushed (a real registry holds them
 * before it sends the webhook). HSS still knows them only after a sync, as in the cloud. Anything
 * that is not a push, or not valid, is left to the function to answer.
 */
export function registerPushes(
  emulator: HssEmulator,
  event: unknown,
  env: NodeJS.ProcessEnv,
): void {
  try {
    const config = loadConfig(env);
    const delivery = recogniseDelivery(event);
    const parsed = parseRegistryPayload(payloadOf(delivery, config.limits.bodyBytes));
    if (parsed.kind !== "push") return;
    const plan = planPushScans(parsed.images, {
      swr: config.swr,
      queryInstanceId: delivery.kind === "http" ? delivery.query.instance_id : undefined,
    });
    for (const target of plan.targets) {
      const digest = plan.digests?.get(targetKey(target));
      emulator.push({
        image_type: plan.imageType,
        ...target,
        host: registryHostOf(target.instance_url),
        ...(digest ? { digest } : {}),
      });
    }
  } catch {
    // The function itself answers what is wrong with the delivery.
  }
}
