import type { SignedCaller } from "../cloud/request";
import type { HssApiClient } from "../hss/apis";
import type { CallBudget } from "../hss/call-budget";
import type { Ignores } from "../images/ignore-file";
import type { Logger } from "../log";
import {
  type Alert,
  alertKey,
  detailsOf,
  type ListedVulnerability,
  type MinSeverity,
  SEVERITIES,
  withoutAccepted,
} from "./alert";
import type { HttpAnswer, SendContext } from "./channels/channel";
import { type DeliveryReport, type DeliverySettings, deliverDue } from "./deliver";
import type { AlertOutbox, OutboxEntry } from "./outbox";
import { type NotifySettings, routeAlert } from "./routes";

/**
 * From a finished scan to the people who own the image: the follow-up hands each result here;
 * it becomes an alert (with the image's vulnerabilities when the call budget has a slot for
 * them), is routed to channels, and put in the outbox once per (route, channel, digest, findings).
 * Each flush then posts what is due.
 */

/** A finished scan, as the follow-up read it from HSS's list. */
export interface Finding {
  image: string;
  image_type: string;
  namespace: string;
  image_name: string;
  image_version: string;
  instance_id?: string;
  instance_name?: string;
  instance_url?: string;
  /** HSS's id of the image (ListImageVulnerabilities' path). */
  image_id?: string;
  digest?: string;
  severity_level: string;
  vul_num: number;
  malicious_file_num: number;
  unsafe_setting_num: number;
  latest_scan_time?: number;
}

export interface NotifierSettings extends Omit<DeliverySettings, "channels"> {
  notify: NotifySettings;
  /** The exceptions file (NOTIFY_IGNORE): what it accepts is left out of every alert. */
  ignores?: Ignores;
  minSeverity: MinSeverity;
  /** `{region}`, `{namespace}`, `{image}`, `{tag}`, `{instance_id}` are filled in. */
  consoleUrl?: string;
  region?: string;
}

export interface Notifier {
  /** Routes one finished scan into the outbox; true when at least one channel will hear of it. */
  notify(finding: Finding): Promise<boolean>;
  /**
   * Routes what a rescan found new in an image (src/rescan/new-findings.ts): an alert of those
   * vulnerabilities only, through the same routes and filters.
   */
  notifyNew(finding: Finding, vulnerabilities: readonly ListedVulnerability[]): Promise<boolean>;
  /** RESCAN_REPORT_FIXED: what a rescan no longer finds in an image (ids only). */
  notifyFixed(finding: Finding, ids: readonly string[]): Promise<boolean>;
  /** Routes the coming end of an exception (src/rescan/exceptions.ts) for one image carrying it. */
  notifyEnding(
    finding: Finding,
    entry: { id: string; until?: string; owner?: string; reason: string },
    carrier: { package?: string; repair_necessity?: string },
  ): Promise<boolean>;
  /** Posts what is due, until the deadline. */
  deliver(deadline: number): Promise<DeliveryReport>;
}

/** A finished scan's alert, as HSS's list describes it (no vulnerabilities read yet). */
export function alertOf(
  finding: Finding,
  settings: Pick<NotifierSettings, "consoleUrl" | "region">,
): Alert {
  const registry = finding.instance_url
    ? finding.instance_url.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "")
    : undefined;
  const fill = (template: string) =>
    template.replace(/\{(region|namespace|image|tag|instance_id)\}/g, (_, name: string) =>
      encodeURIComponent(
        {
          region: settings.region ?? "",
          namespace: finding.namespace,
          image: finding.image_name,
          tag: finding.image_version,
          instance_id: finding.instance_id ?? "",
        }[name] ?? "",
      ),
    );
  return {
    event: "scan_finished",
    image_type: finding.image_type,
    ...(finding.instance_id ? { instance_id: finding.instance_id } : {}),
    ...(finding.instance_name ? { instance_name: finding.instance_name } : {}),
    ...(registry ? { registry } : {}),
    namespace: finding.namespace,
    repository: finding.image_name,
    tags: [finding.image_version],
    ...(finding.digest ? { digest: finding.digest } : {}),
    severity: finding.severity_level,
    vul_num: finding.vul_num,
    malicious_file_num: finding.malicious_file_num,
    unsafe_setting_num: finding.unsafe_setting_num,
    vulnerabilities: [],
    ...(finding.latest_scan_time ? { scanned_at: finding.latest_scan_time } : {}),
    ...(settings.consoleUrl ? { console_url: fill(settings.consoleUrl) } : {}),
  };
}

export function createNotifier(options: {
  settings: NotifierSettings;
  outbox: AlertOutbox;
  budget: CallBudget;
  hss?: () => Promise<HssApiClient>;
  send: SendContext;
  log: Logger;
}): Notifier {
  const { settings, outbox, log } = options;
  const details = (finding: Finding, alert: Alert) => withDetails(options, finding, alert);
  /** Into the outbox for every channel its routes name; false when none does. */
  const put = async (finding: Finding, alert: Alert): Promise<boolean> => {
    const targets = routeAlert(settings.notify.routes, alert);
    if (targets.length === 0) return false;
    const now = options.send.now();
    const entries: OutboxEntry[] = targets.map(({ route, channel }) => ({
      key: alertKey(route, channel, alert),
      route,
      channel,
      alert,
      created_at: now,
      attempts: 0,
    }));
    const outcome = await outbox.put(entries, 0);
    log.info("alert_queued", {
      kind: alert.event,
      image: finding.image,
      ...(finding.digest ? { digest: finding.digest } : {}),
      severity_level: alert.severity,
      channels: targets.map((target) => target.channel),
      ...outcome,
    });
    return true;
  };
  return {
    async notify(finding) {
      const alert = alertOf(finding, settings);
      // Read the vulnerabilities only for an alert some route may send.
      if (routeAlert(settings.notify.routes, alert).length === 0) return false;
      const image = `${finding.namespace}/${finding.image_name}:${finding.image_version}`;
      const ignores = settings.ignores;
      const told = ignores
        ? withoutAccepted(await details(finding, alert), (id, pkg) =>
            Boolean(ignores.find(id, image, pkg)),
          )
        : await details(finding, alert);
      if (!told) {
        log.info("alert_excepted", { image: finding.image, vul_num: finding.vul_num });
        return false;
      }
      return put(finding, told);
    },
    notifyEnding: (finding, entry, carrier) =>
      put(finding, endingAlertOf(alertOf(finding, settings), entry, carrier)),
    notifyFixed: (finding, ids) =>
      put(finding, {
        ...alertOf(finding, settings),
        event: "vulnerabilities_fixed",
        vul_num: ids.length,
        vulnerabilities: ids.map((id) => ({ id, severity: "Low" as const })),
      }),
    notifyNew: (finding, vulnerabilities) =>
      put(finding, newAlertOf(alertOf(finding, settings), vulnerabilities)),
    deliver(deadline) {
      return deliverDue({
        outbox,
        settings: { ...settings, channels: settings.notify.channels },
        context: options.send,
        log,
        deadline,
      });
    },
  };
}

/** What a rescan found new in an image: those vulnerabilities only, the highest of them first. */
function newAlertOf(alert: Alert, vulnerabilities: readonly ListedVulnerability[]): Alert {
  const listed = detailsOf(vulnerabilities);
  const severity = SEVERITIES.find((name) => (listed.counts[name] ?? 0) > 0) ?? alert.severity;
  return {
    ...alert,
    event: "new_vulnerabilities",
    severity,
    vul_num: vulnerabilities.length,
    ...listed,
  };
}

/** The coming end of an exception, for one image seen carrying the finding it accepts. */
function endingAlertOf(
  alert: Alert,
  entry: { id: string; until?: string; owner?: string; reason: string },
  carrier: { package?: string; repair_necessity?: string },
): Alert {
  const listed = detailsOf([
    {
      vul_id: entry.id,
      ...(carrier.package ? { app_name: carrier.package } : {}),
      ...(carrier.repair_necessity ? { repair_necessity: carrier.repair_necessity } : {}),
    },
  ]);
  return {
    ...alert,
    event: "exception_ending",
    exception: {
      id: entry.id,
      until: entry.until ?? "",
      ...(entry.owner ? { owner: entry.owner } : {}),
      reason: entry.reason,
    },
    severity: listed.vulnerabilities[0]?.severity ?? "Low",
    vul_num: 1,
    ...listed,
  };
}

/** The image's vulnerabilities, when the budget has a slot now: an alert never waits for them. */
async function withDetails(
  options: { budget: CallBudget; hss?: () => Promise<HssApiClient>; log: Logger },
  finding: Finding,
  alert: Alert,
): Promise<Alert> {
  if (!options.hss || !finding.image_id || finding.vul_num === 0) return alert;
  const slot = await options.budget.take("list-vulnerabilities");
  if (!slot.granted) return alert;
  try {
    const page = await (await options.hss()).listImageVulnerabilities(finding.image_id, {
      image_type: finding.image_type,
      namespace: finding.namespace,
      image_name: finding.image_name,
      tag_name: finding.image_version,
      ...(finding.instance_id ? { instance_id: finding.instance_id } : {}),
      offset: 0,
      limit: 200,
    });
    return { ...alert, ...detailsOf(page.data_list) };
  } catch (error) {
    options.log.debug("notify_details_unread", {
      image: finding.image,
      reason: (error as Error).message.slice(0, 200),
    });
    return alert;
  }
}

/** How the function posts: Node's HTTP with the post timeout; SMN signed with its credentials. */
export async function sendContextOf(options: {
  timeoutMs: number;
  /** SMN's signed-call client (the composition root's), when SMN channels can be published to. */
  smn?: SignedCaller;
}): Promise<SendContext> {
  const { sendRequest } = await import("../cloud/http-transport");
  const context: SendContext = {
    now: Date.now,
    async post(url, headers, body) {
      const answer = await sendRequest(url, {
        method: "POST",
        headers: { "user-agent": "swr-scan-on-push", ...headers },
        body,
        timeoutMs: options.timeoutMs,
      });
      return { status: answer.status, headers: answer.headers, body: answer.body };
    },
  };
  const client = options.smn;
  if (client) {
    const { SignedCallError } = await import("../cloud/signed-client");
    context.publishSmn = async (topic, subject, message): Promise<HttpAnswer> => {
      try {
        const answer = await client.call(
          {
            method: "POST",
            pathTemplate: "/v2/{project_id}/notifications/topics/{topic_urn}/publish",
            pathParams: { topic_urn: topic },
            query: {},
            body: { subject, message },
          },
          { timeoutMs: options.timeoutMs },
        );
        return { status: answer.status ?? 200, headers: {}, body: answer.text ?? "" };
      } catch (error) {
        if (error instanceof SignedCallError && error.httpStatus !== undefined) {
          return {
            status: error.httpStatus,
            headers: {},
            body: JSON.stringify({ error_code: error.errorCode, error_msg: error.message }),
          };
        }
        throw error;
      }
    };
  }
  return context;
}
