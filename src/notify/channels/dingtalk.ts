import { createHmac } from "node:crypto";
import {
  type Alert,
  countsText,
  facts,
  headline,
  imageName,
  vulnerabilityText,
  whereText,
} from "../alert";
import {
  type ChannelModule,
  codeVerdict,
  jsonBytes,
  type Layout,
  renderWith,
  settingsProblems,
} from "./channel";

/**
 * DingTalk custom group robot: an actionCard (markdown with a button to HSS's console) or markdown,
 * optionally signed (加签: HMAC-SHA256 of `timestamp\nsecret` keyed by the `SEC…` secret, the ms
 * timestamp and the base64 sign in the query). DingTalk answers HTTP 200 whatever happened: only
 * `errcode` 0 is a delivered message. 20 messages a minute per robot, then a 10-minute block.
 */

/** DingTalk documents no size limit; this product keeps a message under this. */
const MAX_BYTES = 18_000;

const COLOUR: Record<string, string> = {
  Critical: "#b71c1c",
  High: "#d93026",
  Medium: "#e37400",
  Low: "#5f6368",
};

function coloured(severity: string, text: string): string {
  const colour = COLOUR[severity];
  return colour ? `<font color=${colour}>${text}</font>` : text;
}

function singleText(alert: Alert, shown: number): string {
  const lines = [
    `### ${coloured(alert.severity, headline(alert))}`,
    "",
    ...facts(alert).map(([name, value]) => `- **${name}**: ${value}`),
  ];
  const listed = alert.vulnerabilities.slice(0, shown);
  if (listed.length > 0) {
    lines.push("", ...listed.map((vulnerability) => `- ${vulnerabilityText(vulnerability)}`));
  }
  const more = alert.vul_num - listed.length;
  if (listed.length > 0 && more > 0) lines.push(`- … and ${more} more`);
  return lines.join("  \n");
}

const layout: Layout<Record<string, unknown>> = {
  single(alert, shown) {
    const text = singleText(alert, shown);
    const title = headline(alert).slice(0, 100);
    return alert.console_url
      ? {
          msgtype: "actionCard",
          actionCard: { title, text, singleTitle: "Open in HSS", singleURL: alert.console_url },
        }
      : { msgtype: "markdown", markdown: { title, text } };
  },
  summary(alerts, count) {
    const lines = [
      `### swr-scan-on-push: ${alerts.length} images with findings`,
      "",
      ...alerts
        .slice(0, count)
        .map(
          (alert) =>
            `- ${coloured(alert.severity, alert.severity)} **${imageName(alert, 3)}** (${whereText(alert)}): ${countsText(alert)}`,
        ),
    ];
    if (alerts.length > count) {
      lines.push(`- … and ${alerts.length - count} more in the next message`);
    }
    return {
      msgtype: "markdown",
      markdown: { title: `${alerts.length} images with findings`, text: lines.join("  \n") },
    };
  },
  size: jsonBytes,
  maxBytes: MAX_BYTES,
  body: (value) => value,
};

/** DingTalk's sign: base64(HmacSHA256(key = secret, timestamp + "\n" + secret)), not yet URL-encoded. */
export function dingtalkSign(secret: string, timestampMs: number): string {
  return createHmac("sha256", secret).update(`${timestampMs}\n${secret}`, "utf8").digest("base64");
}

export const dingtalk: ChannelModule = {
  type: "dingtalk",
  title: "DingTalk custom robot",
  signs: true,
  rate: [{ limit: 20, windowMs: 60_000 }],
  maxBytes: MAX_BYTES,
  check(settings) {
    const problems = settingsProblems(settings, {
      title: "DingTalk robot",
      example: "https://oapi.dingtalk.com/robot/send?access_token=…",
      matches: (url) =>
        url.pathname.endsWith("/robot/send") && Boolean(url.searchParams.get("access_token")),
      signs: true,
    });
    if (settings.secret !== undefined && !settings.secret.startsWith("SEC")) {
      problems.push(`${settings.name}: a DingTalk signing secret starts with SEC`);
    }
    return problems;
  },
  render: (alerts, options) => renderWith(layout, alerts, options),
  async send(settings, rendered, context) {
    const url = new URL(settings.url as string);
    if (settings.secret) {
      const timestamp = context.now();
      url.searchParams.set("timestamp", String(timestamp));
      url.searchParams.set("sign", dingtalkSign(settings.secret, timestamp));
    }
    const answer = await context.post(
      url,
      { "content-type": "application/json; charset=utf-8" },
      JSON.stringify(rendered.body),
    );
    return codeVerdict(answer, context.now(), {
      name: "DingTalk",
      field: "errcode",
      code: (body) => body.errcode,
      message: (body) => body.errmsg,
      // 130101: over 20 a minute, the robot is blocked for 10 minutes; 90030: the robot's quota.
      waits: { 130101: 10 * 60_000, 90030: 60 * 60_000 },
      // 40035: a parameter of the body is wrong. 310000 (signature, keyword, IP), 300001 (token)
      // and the rest are settings someone can fix: retried.
      never: [40035],
    });
  },
};
