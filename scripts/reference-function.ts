import { timingSafeEqual } from "node:crypto";
import { request } from "node:http";
import { BasicCredentials } from "@huaweicloud/huaweicloud-sdk-core/auth/BasicCredentials";

/**
 * The least a function doing this job can be, for `npm run bench` to measure beside the product:
 * it checks the delivery's secret, reads an SWR Enterprise push (Harbor's payload, base64 in an
 * API gateway event), names each tagged image as BatchScanSwrImageInfo, signs the batch-scan call
 * with the Huawei SDK core's signer (as the product does) and posts it, and answers 202 when HSS
 * accepted it. Nothing else: no configuration check, no limits, no logs, no dedupe, no retry, no
 * answer beyond the status. The bench bundles it as the product is bundled (the same stand-ins for
 * the SDK core's lodash, moment and IAM), in one file without a code cache.
 */
interface GatewayEvent {
  body: string;
  headers: Record<string, string>;
  queryStringParameters?: Record<string, string>;
}

export async function handler(event: GatewayEvent): Promise<{ statusCode: number }> {
  const env = process.env;
  const given = Buffer.from(event.headers.authorization ?? "");
  const secret = Buffer.from(env.WEBHOOK_SECRET ?? "");
  if (given.length !== secret.length || !timingSafeEqual(given, secret)) return { statusCode: 401 };
  const payload = JSON.parse(Buffer.from(event.body, "base64").toString("utf8"));
  const { repository, resources } = payload.event_data;
  const images = (resources as Array<{ tag: string }>)
    .filter(({ tag }) => !tag.startsWith("sha256:"))
    .map(({ tag }) => ({
      namespace: repository.namespace,
      image_name: repository.repo_full_name.slice(repository.namespace.length + 1),
      image_version: tag,
      instance_id: event.queryStringParameters?.instance_id,
    }));
  const body = { image_type: "instance_image", image_info_list: images };
  const credentials = new BasicCredentials()
    .withAk(env.CLOUD_SDK_AK as string)
    .withSk(env.CLOUD_SDK_SK as string)
    .withProjectId(env.HSS_PROJECT_ID as string);
  const signed = (await credentials.processAuthRequest(
    undefined as never,
    {
      method: "POST",
      url: "/v5/{project_id}/image/batch-scan",
      endpoint: env.HSS_ENDPOINT,
      contentType: "application/json",
      headers: { "Content-Type": "application/json" },
      queryParams: {},
      pathParams: {},
      data: body,
    } as never,
  )) as unknown as { endpoint: string; headers: Record<string, string> };
  const status = await new Promise<number>((resolve, reject) => {
    const call = request(
      new URL(signed.endpoint),
      { method: "POST", headers: signed.headers, timeout: 2000 },
      (answer) => {
        let text = "";
        answer.on("data", (chunk) => {
          text += chunk;
        });
        answer.on("end", () => {
          JSON.parse(text || "{}");
          resolve(answer.statusCode ?? 0);
        });
      },
    );
    call.on("timeout", () => call.destroy(new Error("timeout")));
    call.on("error", reject);
    call.end(JSON.stringify(body));
  });
  return { statusCode: status === 200 ? 202 : 502 };
}
