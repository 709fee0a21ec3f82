import type { Config, Credentials } from "../config";
import { createHssClient } from "../hss/client";
import { sendRequest } from "../hss/http-transport";
import type { Logger } from "../log";

/**
 * Tells people about findings: a JSON POST to any webhook URL (chat tools, incident systems)
 * and/or a message to an SMN topic (e-mail, SMS, other subscriptions), for scans whose highest
 * severity is at or above NOTIFY_MIN_SEVERITY. The URL and the topic are secrets: neither is ever
 * logged (the logger scrubs them, and failures here name only the channel).
 */

export type MinSeverity = Config["notify"]["minSeverity"];

const RANK: Record<string, number> = { security: 0, low: 1, medium: 2, high: 3, critical: 4 };

/** Whether HSS's severity_level (`Security`, `Low`, `Medium`, `High`) is at or above `min`. */
export function atOrAbove(severity: string | null | undefined, min: MinSeverity): boolean {
  return (RANK[(severity ?? "").toLowerCase()] ?? 0) >= (RANK[min] ?? 3);
}

export interface Finding {
  image: string;
  image_type: string;
  instance_id?: string;
  digest?: string;
  severity_level: string;
  vul_num: number;
  malicious_file_num: number;
  unsafe_setting_num: number;
  latest_scan_time?: number;
}

export function findingMessage(finding: Finding): { subject: string; message: string } {
  const subject = `HSS: ${finding.severity_level} vulnerabilities in ${finding.image}`.slice(
    0,
    200,
  );
  const when = finding.latest_scan_time
    ? ` Scanned at ${new Date(finding.latest_scan_time).toISOString()}.`
    : "";
  const message =
    `swr-scan-on-push: HSS found ${finding.vul_num} vulnerabilit${finding.vul_num === 1 ? "y" : "ies"} ` +
    `(highest severity: ${finding.severity_level}) in ${finding.image}` +
    `${finding.instance_id ? ` on SWR Enterprise instance ${finding.instance_id}` : ""}` +
    `${finding.digest ? `, digest ${finding.digest}` : ""}. ` +
    `Malicious files: ${finding.malicious_file_num}; unsafe settings: ${finding.unsafe_setting_num}.${when} ` +
    "See the image's vulnerabilities in the HSS console (Container Images) or with `npm run scan -- <image> --vulnerabilities`.";
  return { subject, message };
}

export interface Notifier {
  notify(finding: Finding): Promise<void>;
}

export function createNotifier(options: {
  notify: Config["notify"];
  credentials?: Credentials;
  projectId?: string;
  region?: string;
  timeoutMs: number;
  log: Logger;
}): Notifier | undefined {
  const { notify, log, timeoutMs } = options;
  if (!notify.webhookUrl && !notify.smnTopic) return undefined;
  const smn =
    notify.smnTopic && notify.smnEndpoint && options.credentials && options.projectId
      ? createHssClient({
          endpoint: notify.smnEndpoint,
          region: options.region,
          projectId: options.projectId,
          credentials: options.credentials,
        })
      : undefined;
  return {
    async notify(finding) {
      if (!atOrAbove(finding.severity_level, notify.minSeverity)) return;
      const { subject, message } = findingMessage(finding);
      if (notify.webhookUrl) {
        try {
          const answer = await sendRequest(new URL(notify.webhookUrl), {
            method: "POST",
            headers: { "content-type": "application/json", "user-agent": "swr-scan-on-push" },
            body: JSON.stringify({ event: "scan_finished", subject, message, ...finding }),
            timeoutMs,
          });
          if (answer.status >= 300) throw new Error(`answered HTTP ${answer.status}`);
          log.info("notified", { channel: "webhook", image: finding.image });
        } catch (error) {
          log.warn("notify_failed", {
            channel: "webhook",
            image: finding.image,
            reason: (error as Error).message.slice(0, 200),
          });
        }
      }
      if (notify.smnTopic) {
        if (!smn) {
          log.warn("notify_failed", {
            channel: "smn",
            image: finding.image,
            reason: "no credentials or project id to publish with",
          });
          return;
        }
        try {
          const answer = await smn.call(
            {
              method: "POST",
              pathTemplate: "/v2/{project_id}/notifications/topics/{topic_urn}/publish",
              pathParams: { topic_urn: notify.smnTopic },
              query: {},
              body: { subject, message },
            },
            { timeoutMs },
          );
          log.info("notified", {
            channel: "smn",
            image: finding.image,
            smn_request_id: answer.requestId,
          });
        } catch (error) {
          log.warn("notify_failed", {
            channel: "smn",
            image: finding.image,
            reason: (error as Error).message.slice(0, 200),
          });
        }
      }
    },
  };
}
