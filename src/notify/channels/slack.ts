import {
  type Alert,
  clip,
  countsText,
  facts,
  headline,
  imageName,
  vulnerabilityText,
} from "../alert";
import {
  type ChannelModule,
  type HttpAnswer,
  httpFailure,
  jsonBytes,
  type Layout,
  postJson,
  renderWith,
  retryAfterMs,
  settingsProblems,
  shortText,
  type Verdict,
} from "./channel";

/**
 * Slack incoming webhook: Block Kit blocks with `text` as the notification fallback. The URL is
 * the credential (no signing for incoming webhooks). Success is HTTP 200 with the body `ok`;
 * errors are a bare string (`invalid_payload`, `channel_not_found`, …); about one message a
 * second, then 429 with Retry-After.
 */

/** Slack takes at most 50 blocks and 3000 characters in a section's text. */
const MAX_SECTION = 3000;
const MAX_BYTES = 40_000;

const EMOJI: Record<string, string> = {
  Critical: ":red_circle:",
  High: ":large_orange_circle:",
  Medium: ":large_yellow_circle:",
  Low: ":white_circle:",
};

/** Slack's mrkdwn treats &, < and > as markup. */
const mrkdwn = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

const section = (text: string) => ({ type: "section", text: { type: "mrkdwn", text } });

/** The body's size, or infinite when a block is over Slack's limits (50 blocks, 3000 a section). */
function slackSize(value: Record<string, unknown>): number {
  const blocks = value.blocks as Array<{ text?: { text?: string } }>;
  const over =
    blocks.length > 50 || blocks.some((block) => (block.text?.text?.length ?? 0) > MAX_SECTION);
  return over ? Number.POSITIVE_INFINITY : jsonBytes(value);
}

function single(alert: Alert, shown: number): Record<string, unknown> {
  const fields = facts(alert);
  const blocks: unknown[] = [
    {
      type: "header",
      text: { type: "plain_text", text: clip(headline(alert), 150) },
    },
    {
      type: "section",
      fields: fields.map(([name, value]) => ({
        type: "mrkdwn",
        text: `*${name}*\n${mrkdwn(clip(value as string, 1900))}`,
      })),
    },
  ];
  const listed = alert.vulnerabilities.slice(0, shown);
  if (listed.length > 0) {
    const more = alert.vul_num - listed.length;
    blocks.push(
      section(
        listed.map((item) => `• ${mrkdwn(vulnerabilityText(item))}`).join("\n") +
          (more > 0 ? `\n… and ${more} more` : ""),
      ),
    );
  }
  if (alert.console_url) {
    blocks.push({
      type: "actions",
      elements: [
        {
          type: "button",
          text: { type: "plain_text", text: "Open in HSS" },
          url: alert.console_url,
        },
      ],
    });
  }
  return { text: `${EMOJI[alert.severity] ?? ""} ${headline(alert)}`.trim(), blocks };
}

function summary(alerts: readonly Alert[], count: number): Record<string, unknown> {
  const lines = alerts
    .slice(0, count)
    .map(
      (alert) =>
        `${EMOJI[alert.severity] ?? "•"} *${mrkdwn(imageName(alert, 3))}*: ${mrkdwn(countsText(alert))}`,
    );
  if (alerts.length > count) lines.push(`… and ${alerts.length - count} more in the next message`);
  // One section per 3000 characters of lines, within Slack's 50 blocks.
  const sections: string[] = [];
  for (const line of lines) {
    const last = sections.at(-1);
    if (last !== undefined && last.length + line.length + 1 <= MAX_SECTION) {
      sections[sections.length - 1] = `${last}\n${line}`;
    } else sections.push(line);
  }
  const title = `swr-scan-on-push: ${alerts.length} images with findings`;
  return {
    text: title,
    blocks: [
      { type: "header", text: { type: "plain_text", text: title } },
      ...sections.map(section),
    ],
  };
}

const layout: Layout<Record<string, unknown>> = {
  single,
  summary,
  size: slackSize,
  maxBytes: MAX_BYTES,
  body: (value) => value,
};

function judge(answer: HttpAnswer, now: number): Verdict {
  const text = answer.body.trim();
  if (answer.status === 200 && text === "ok") return { ok: true, code: "ok" };
  if (answer.status === 429) {
    const waitMs = retryAfterMs(answer, now);
    return {
      ok: false,
      code: "HTTP 429",
      message: shortText(text) || "rate limited",
      fate: "retry",
      ...(waitMs !== undefined ? { waitMs } : {}),
    };
  }
  if (answer.status === 400 && text === "invalid_payload") {
    return { ok: false, code: text, message: "Slack refused the message's shape", fate: "never" };
  }
  if (answer.status >= 400 && answer.status < 500 && /^[a-z_]+$/.test(text)) {
    // channel_not_found, channel_is_archived, action_prohibited, no_service…: settings to fix.
    return { ok: false, code: text, message: `HTTP ${answer.status}`, fate: "retry" };
  }
  if (answer.status === 200) {
    return {
      ok: false,
      code: "HTTP 200",
      message: `not Slack's answer (body is not ok): ${shortText(text, 80) || "empty body"}`,
      fate: "retry",
    };
  }
  return httpFailure(answer, now);
}

export const slack: ChannelModule = {
  type: "slack",
  title: "Slack incoming webhook",
  signs: false,
  rate: [{ limit: 1, windowMs: 1_000 }],
  maxBytes: MAX_BYTES,
  check: (settings) =>
    settingsProblems(settings, {
      title: "Slack incoming webhook",
      example: "https://hooks.slack.com/services/T…/B…/…",
      matches: (url) => url.pathname.startsWith("/services/"),
      signs: false,
    }),
  render: (alerts, options) => renderWith(layout, alerts, options),
  async send(settings, rendered, context) {
    return judge(await postJson(settings, rendered.body, context), context.now());
  },
};
