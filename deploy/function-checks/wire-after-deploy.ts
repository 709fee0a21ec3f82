import picomatch from "picomatch";
import { createSignedClient } from "../../src/cloud/signed-client";
import { swrWebhooks } from "../../src/swr/webhooks";
import { pacedSlot, wireInstances, wireTable } from "../../src/wiring/reconcile";

/**
 * The wiring after a deploy: the function's own src/wiring/, with the deploy's region, project
 * and credentials. SWR's endpoint is the region's, or SWR_ENDPOINT in the deploying shell.
 */
export async function wireAll(options: {
  instances: string[];
  url: string;
  variables: Record<string, string>;
  access: {
    region: string;
    projectId: string;
    credentials: { ak: string; sk: string; securityToken?: string };
  };
  write: (line: string) => void;
}): Promise<boolean> {
  const { access, variables } = options;
  const domain = access.region === "eu-west-101" ? "myhuaweicloud.eu" : "myhuaweicloud.com";
  const endpoint = process.env.SWR_ENDPOINT?.trim() || `https://swr-api.${access.region}.${domain}`;
  const swr = swrWebhooks(
    createSignedClient({
      endpoint,
      region: access.region,
      projectId: access.projectId,
      credentials: { ...access.credentials, securityToken: access.credentials.securityToken },
    }),
    10_000,
  );
  const matches = picomatch(variables.SWR_WIRE_NAMESPACES || "*");
  const slot = pacedSlot(
    Number(variables.SWR_CALLS_PER_MINUTE) || 60,
    (Number(variables.HSS_RATE_WINDOW_SECONDS) || 61) * 1000,
  );
  const { rows, errors } = await wireInstances(options.instances, {
    swr,
    matches: (namespace) => matches(namespace),
    url: options.url,
    header: variables.WEBHOOK_SECRET_HEADER || "authorization",
    secret: (variables.WEBHOOK_SECRET ?? "").split(",")[0]?.trim() || undefined,
    dryRun: false,
    unwire: false,
    slot,
  });
  for (const error of errors) options.write(`wiring SWR Enterprise: ${error}`);
  options.write("SWR Enterprise triggers (npm run wire):");
  for (const line of wireTable(rows, false)) options.write(`  ${line}`);
  return (
    errors.length > 0 || rows.some((row) => row.action === "failed" || row.action === "postponed")
  );
}
