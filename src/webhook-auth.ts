import { createHash, timingSafeEqual } from "node:crypto";
import type { Config } from "./config";
import type { HttpDelivery } from "./delivery";
import { httpError } from "./errors";
import type { Logger } from "./log";

/**
 * Authenticates HTTP deliveries with a shared secret, which is what SWR EE's trigger ("request
 * header") and Harbor's webhook ("auth header", sent as Authorization) can send. The presented
 * value may be the bare secret or `Bearer <secret>`. Several secrets may be valid at once, for
 * rotation. Direct invocations are not HTTP and are authorised by the platform (IAM) instead.
 */
export function authenticateDelivery(
  delivery: HttpDelivery,
  webhook: Config["webhook"],
  log: Logger,
): void {
  if (webhook.auth === "none") return;
  const presented = delivery.headers[webhook.header];
  const reason =
    webhook.secrets.length === 0
      ? "no WEBHOOK_SECRET is configured"
      : presented === undefined
        ? `no ${webhook.header} header`
        : matchesAny(presented, webhook.secrets)
          ? undefined
          : `wrong ${webhook.header} header`;
  if (!reason) return;
  // The presented value is never logged: it may be a mistyped or previous secret.
  log.warn("unauthenticated", { header: webhook.header, reason });
  throw httpError(
    401,
    webhook.secrets.length === 0
      ? "this endpoint requires a webhook secret and none is configured: set WEBHOOK_SECRET, or WEBHOOK_AUTH=none when the API gateway authenticates callers"
      : `send the webhook secret in the ${webhook.header} header (the secret itself, or "Bearer <secret>")`,
    { headers: { "www-authenticate": "Bearer" } },
  );
}

function matchesAny(presented: string, secrets: readonly string[]): boolean {
  const candidate = presented.trim().replace(/^bearer\s+/i, "");
  // Compare digests so that neither the length nor the content leaks through timing; check every
  // secret so that the position of a match does not either.
  const digest = sha256(candidate);
  let matched = false;
  for (const secret of secrets) matched = timingSafeEqual(digest, sha256(secret)) || matched;
  return matched;
}

function sha256(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}
