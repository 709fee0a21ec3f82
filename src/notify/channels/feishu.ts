import { createHmac } from "node:crypto";
import { type Alert, countsText, facts, headline, imageName, vulnerabilityText } from "../alert";
import {
  type ChannelModule,
  codeVerdict,
  jsonBytes,
  type Layout,
  renderWith,
  settingsProblems,
} from "./channel";

/**
 * Feishu (飞书) and Lark custom bots: an interactive card with a coloured header, optionally signed
 * (the key is `timestamp\nsecret`, the message empty; standard base64; `timestamp` in seconds and
 * `sign` in the JSON body). Only `code` 0 (or the legacy `StatusCode` 0) is delivered, whatever
 * the HTTP status. 100 messages a minute and 5 a second per bot; a body at most 20 KB.
 */

const MAX_BYTES = 20 * 1024;
const HOSTS: Record<"feishu" | "lark", string> = {
  feishu: "open.feishu.cn",
  lark: "open.larksuite.com",
};

const TEMPLATE: Record<string, string> = {
  Critical: "carmine",
  High: "red",
  Medium: "orange",
  Low: "blue",
  Security: "green",
};

/** Feishu's sign: base64(HmacSHA256(key = timestamp + "\n" + secret, message = "")). */
export function feishuSign(secret: string, timestampSeconds: number): string {
  return createHmac("sha256", `${timestampSeconds}\n${secret}`).update("").digest("base64");
}

const div = (content: string) => ({ tag: "div", text: { tag: "lark_md", content } });

function singleCard(alert: Alert, shown: number): Record<string, unknown> {
  const fields = facts(alert);
  const elements: unknown[] = [
    {
      tag: "div",
      fields: fields.map(([name, value]) => ({
        is_short: name !== "Image",
        text: { tag: "lark_md", content: `**${name}**\n${value}` },
      })),
    },
  ];
  const listed = alert.vulnerabilities.slice(0, shown);
  if (listed.length > 0) {
    const more = alert.vul_num - listed.length;
    elements.push(
      { tag: "hr" },
      div(
        listed.map((item) => `- ${vulnerabilityText(item)}`).join("\n") +
          (more > 0 ? `\n… and ${more} more` : ""),
      ),
    );
  }
  if (alert.console_url) {
    elements.push({
      tag: "action",
      actions: [
        {
          tag: "button",
          text: { tag: "plain_text", content: "Open in HSS" },
          type: "primary",
          url: alert.console_url,
        },
      ],
    });
  }
  return {
    config: { wide_screen_mode: true },
    header: {
      title: { tag: "plain_text", content: headline(alert) },
      template: TEMPLATE[alert.severity] ?? "grey",
    },
    elements,
  };
}

function summaryCard(alerts: readonly Alert[], count: number): Record<string, unknown> {
  const top = alerts[0] as Alert;
  const lines = alerts
    .slice(0, count)
    .map((alert) => `- **${alert.severity}** ${imageName(alert, 3)}: ${countsText(alert)}`);
  if (alerts.length > count) lines.push(`… and ${alerts.length - count} more in the next message`);
  return {
    config: { wide_screen_mode: true },
    header: {
      title: {
        tag: "plain_text",
        content: `swr-scan-on-push: ${alerts.length} images with findings`,
      },
      template: TEMPLATE[top.severity] ?? "grey",
    },
    elements: [div(lines.join("\n"))],
  };
}

const layout: Layout<Record<string, unknown>> = {
  single: (alert, shown) => ({ msg_type: "interactive", card: singleCard(alert, shown) }),
  summary: (alerts, count) => ({ msg_type: "interactive", card: summaryCard(alerts, count) }),
  size: jsonBytes,
  // Room for the signature's two fields.
  maxBytes: MAX_BYTES - 200,
  body: (value) => value,
};

function module(type: "feishu" | "lark"): ChannelModule {
  const title = type === "feishu" ? "Feishu custom bot" : "Lark custom bot";
  return {
    type,
    title,
    signs: true,
    rate: [
      { limit: 100, windowMs: 60_000 },
      { limit: 5, windowMs: 1_000 },
    ],
    maxBytes: MAX_BYTES,
    check(settings) {
      const problems = settingsProblems(settings, {
        title,
        example: `https://${HOSTS[type]}/open-apis/bot/v2/hook/<token>`,
        matches: (url) => /^\/open-apis\/bot\/v2\/hook\/[^/]+$/.test(url.pathname),
        signs: true,
      });
      if (problems.length > 0) return problems;
      // http is allowed only to this machine (a relay, the stand-ins): any host there.
      const url = new URL(settings.url as string);
      if (url.protocol === "https:" && url.hostname !== HOSTS[type]) {
        const other = type === "feishu" ? "lark" : "feishu";
        problems.push(
          url.hostname === HOSTS[other]
            ? `${settings.name}: ${url.hostname} is ${other}'s host; set "type": "${other}"`
            : `${settings.name}: a ${title} posts to ${HOSTS[type]}`,
        );
      }
      return problems;
    },
    render: (alerts, options) => renderWith(layout, alerts, options),
    async send(settings, rendered, context) {
      let body = rendered.body;
      if (settings.secret) {
        const timestamp = Math.floor(context.now() / 1000);
        body = {
          timestamp: String(timestamp),
          sign: feishuSign(settings.secret, timestamp),
          ...body,
        };
      }
      const answer = await context.post(
        new URL(settings.url as string),
        { "content-type": "application/json; charset=utf-8" },
        JSON.stringify(body),
      );
      return codeVerdict(answer, context.now(), {
        name: "Feishu",
        field: "code",
        code: (answered) =>
          typeof answered.code === "number" ? answered.code : answered.StatusCode,
        message: (answered) => answered.msg ?? answered.StatusMessage,
        waits: { 11232: 60_000 },
        // 9499: the body is wrong or above 20 KB. 19021 (signature or clock), 19022 (IP),
        // 19024 (keyword) and the rest: settings to fix, retried.
        never: [9499],
      });
    },
  };
}

export const feishu = module("feishu");
export const lark = module("lark");
