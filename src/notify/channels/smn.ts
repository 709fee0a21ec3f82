import {
  type Alert,
  countsText,
  headline,
  imageName,
  otherFindings,
  vulnerabilityText,
  whereText,
} from "../alert";
import {
  type ChannelModule,
  type HttpAnswer,
  httpFailure,
  jsonObject,
  type Layout,
  renderWith,
  shortText,
  type Verdict,
} from "./channel";
import { cut } from "./wecom";

/**
 * Huawei Cloud SMN: publish a subject and a plain-text message to a topic, signed with the
 * function's own credentials (SMN's publish permission). SMN answers `{request_id, message_id}`:
 * stored, to be pushed to the topic's subscriptions (e-mail, SMS, HTTP, chat bots) later. E-mail
 * and SMS above 1000 messages in 10 minutes per account may be lost; this product sends at most
 * 100 a minute to a topic.
 */

const MAX_SUBJECT_BYTES = 512;
/** SMN takes up to 256 KB; e-mail is the subscription that reads it whole, so keep it short. */
const MAX_BYTES = 64 * 1024;

function single(alert: Alert, shown: number): string {
  const lines = [
    `swr-scan-on-push: HSS found ${countsText(alert)} in ${imageName(alert, 20)}.`,
    `Where: ${whereText(alert)}`,
    ...(alert.digest ? [`Digest: ${alert.digest}`] : []),
    ...(otherFindings(alert) ? [`Also: ${otherFindings(alert)}`] : []),
  ];
  const listed = alert.vulnerabilities.slice(0, shown);
  if (listed.length > 0) {
    lines.push("", ...listed.map((item) => `- ${vulnerabilityText(item, 120)}`));
    const more = alert.vul_num - listed.length;
    if (more > 0) lines.push(`… and ${more} more`);
  }
  if (alert.console_url) lines.push("", `In HSS's console: ${alert.console_url}`);
  return lines.join("\n");
}

function summary(alerts: readonly Alert[], count: number): string {
  const lines = [
    `swr-scan-on-push: ${alerts.length} images with findings.`,
    "",
    ...alerts
      .slice(0, count)
      .map(
        (alert) =>
          `- ${alert.severity}: ${imageName(alert, 3)} (${whereText(alert)}): ${countsText(alert)}`,
      ),
  ];
  if (alerts.length > count) lines.push(`… and ${alerts.length - count} more in the next message`);
  return lines.join("\n");
}

const layout: Layout<{ subject: string; message: string }> = {
  single: (alert, shown) => ({
    subject: cut(headline(alert), MAX_SUBJECT_BYTES),
    message: single(alert, shown),
  }),
  summary: (alerts, count) => ({
    subject: `swr-scan-on-push: ${alerts.length} images with findings`,
    message: summary(alerts, count),
  }),
  size: (body) => Buffer.byteLength(body.message),
  maxBytes: MAX_BYTES,
  body: (value) => ({ ...value }),
};

function judge(answer: HttpAnswer, now: number): Verdict {
  const body = jsonObject(answer.body);
  if (answer.status >= 200 && answer.status < 300) {
    if (typeof body?.message_id === "string" && body.message_id) {
      return { ok: true, code: `message_id ${body.message_id}` };
    }
    return {
      ok: false,
      code: `HTTP ${answer.status}`,
      message: "not SMN's answer (no message_id)",
      fate: "retry",
    };
  }
  const code = body?.error_code;
  if (typeof code === "string") {
    return {
      ok: false,
      code,
      message: shortText(body?.error_msg) || `HTTP ${answer.status}`,
      fate: "retry",
    };
  }
  return httpFailure(answer, now);
}

export const smn: ChannelModule = {
  type: "smn",
  title: "Huawei Cloud SMN topic",
  signs: false,
  rate: [{ limit: 100, windowMs: 60_000 }],
  maxBytes: MAX_BYTES,
  check(settings) {
    const problems: string[] = [];
    if (!settings.topic)
      problems.push(`${settings.name}: needs "topic" (urn:smn:<region>:<project id>:<name>)`);
    else if (!/^urn:smn:[^:]+:[^:]+:[^:]+$/.test(settings.topic)) {
      problems.push(
        `${settings.name}: "topic" is an SMN topic URN, urn:smn:<region>:<project id>:<name>`,
      );
    }
    if (settings.url !== undefined) problems.push(`${settings.name}: SMN takes "topic", not "url"`);
    if (settings.secret !== undefined) {
      problems.push(
        `${settings.name}: SMN is signed with the function's credentials; remove "secret"`,
      );
    }
    return problems;
  },
  render: (alerts, options) => renderWith(layout, alerts, options),
  async send(settings, rendered, context) {
    if (!context.publishSmn) {
      return {
        ok: false,
        code: "NO_CREDENTIALS",
        message: "no credentials or project id to publish with",
        fate: "retry",
      };
    }
    const { subject, message } = rendered.body as { subject: string; message: string };
    const answer = await context.publishSmn(settings.topic as string, subject, message);
    return judge(answer, context.now());
  },
};
