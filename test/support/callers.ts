import { createSignedClient, type SignedClientOptions } from "../../src/cloud/signed-client";
import { EMULATOR_KEY } from "../../src/emulator/hss-emulator";

/**
 * The project's own signing client, pointed at a loopback stand-in (HSS, SWR) with the stand-ins'
 * default key: what the product sends, checked by what the stand-in accepts.
 */
export function standInCaller(
  standIn: { url: string; projectId: string },
  options: Partial<SignedClientOptions> = {},
) {
  return createSignedClient({
    endpoint: standIn.url,
    projectId: standIn.projectId,
    credentials: { ...EMULATOR_KEY, securityToken: undefined },
    ...options,
  });
}
