import { createHmac } from "node:crypto";
import { type Alert, countsText, headline, imageName, whereText } from "../alert";
import {
  type ChannelModule,
  type HttpAnswer,
  httpFailure,
  jsonBytes,
  type Layout,
  renderWith,
  urlProblem,
  type Verdict,
} from "./channel";

/**
 * Any URL that takes a JSON POST (an incident tool, a relay of your own): the body is this
 * product's alert document, version 1 (docs/alert.schema.json). Any 2xx is delivered. With
 * `secret`, the body is signed: `x-swr-scan-on-push-signature: sha256=<hex HMAC of the body>`.
 */

export const WEBHOOK_SCHEMA_VERSION = 1;
const MAX_BYTES = 256 * 1024;

/** The fields the first webhook body had, kept at the top for receivers written against it. */
function legacy(alert: Alert) {
  return {
    image: `${alert.namespace}/${alert.repository}:${alert.tags[0]}${alert.instance_id ? ` (instance ${alert.instance_id})` : ""}`,
    image_type: alert.image_type,
    ...(alert.instance_id ? { instance_id: alert.instance_id } : {}),
    ...(alert.digest ? { digest: alert.digest } : {}),
    severity_level: alert.severity,
    vul_num: alert.vul_num,
    malicious_file_num: alert.malicious_file_num,
    unsafe_setting_num: alert.unsafe_setting_num,
    ...(alert.scanned_at ? { latest_scan_time: alert.scanned_at } : {}),
  };
}

function document(alerts: readonly Alert[], count: number, shown: number): Record<string, unknown> {
  const listed = alerts.slice(0, count).map((alert) => ({
    ...alert,
    vulnerabilities: alert.vulnerabilities.slice(0, shown),
  }));
  const one = alerts.length === 1 ? (alerts[0] as Alert) : undefined;
  return {
    version: WEBHOOK_SCHEMA_VERSION,
    event: one?.event ?? "scan_finished",
    subject: one ? headline(one) : `swr-scan-on-push: ${alerts.length} images with findings`,
    message: one
      ? `HSS found ${one.vul_num} vulnerabilit${one.vul_num === 1 ? "y" : "ies"} (${countsText(one)}) in ${imageName(one, 20)} (${whereText(one)}).`
      : `${count} of ${alerts.length} images with findings in this message.`,
    ...(one ? legacy(one) : {}),
    alerts: listed,
  };
}

/** A summary lists each alert's vulnerabilities too, as many as one alert would. */
const layout = (maxVulnerabilities: number): Layout<Record<string, unknown>> => ({
  single: (alert, shown) => document([alert], 1, shown),
  summary: (alerts, count) => document(alerts, count, maxVulnerabilities),
  size: jsonBytes,
  maxBytes: MAX_BYTES,
  body: (value) => value,
});

function judge(answer: HttpAnswer, now: number): Verdict {
  if (answer.status >= 200 && answer.status < 300)
    return { ok: true, code: `HTTP ${answer.status}` };
  if (answer.status === 413) {
    return { ok: false, code: "HTTP 413", message: "the receiver refused the size", fate: "never" };
  }
  return httpFailure(answer, now);
}

export const webhook: ChannelModule = {
  type: "webhook",
  title: "Generic JSON webhook",
  signs: true,
  rate: [{ limit: 60, windowMs: 60_000 }],
  maxBytes: MAX_BYTES,
  check(settings) {
    const problem = urlProblem(settings.name, settings.url);
    return problem ? [problem] : [];
  },
  render: (alerts, options) => renderWith(layout(options.maxVulnerabilities), alerts, options),
  async send(settings, rendered, context) {
    const body = JSON.stringify(rendered.body);
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "user-agent": "swr-scan-on-push",
    };
    if (settings.secret) {
      headers["x-swr-scan-on-push-signature"] =
        `sha256=${createHmac("sha256", settings.secret).update(body).digest("hex")}`;
    }
    // The bytes signed are the bytes sent.
    const answer = await context.post(new URL(settings.url as string), headers, body);
    return judge(answer, context.now());
  },
};
