import { type Alert, countsText, facts, headline, imageName, vulnerabilityText } from "../alert";
import {
  type ChannelModule,
  type HttpAnswer,
  httpFailure,
  jsonBytes,
  jsonObject,
  type Layout,
  postJson,
  renderWith,
  settingsProblems,
  shortText,
  type Verdict,
} from "./channel";

/**
 * Microsoft Teams through a Workflows (Power Automate) webhook, "Send webhook alerts to a
 * channel": an Adaptive Card inside `attachments` (the template flow iterates over that array).
 * The `sig` in the URL's query is the credential. Any 2xx means the flow was started; errors are
 * `{"error": {"code", "message"}}`. A card above about 28 KB is refused. Microsoft documents no
 * rate for Workflows; this product sends at most 4 a second, the old connectors' limit.
 */

const MAX_BYTES = 28_000;

const COLOUR: Record<string, string> = {
  Critical: "Attention",
  High: "Attention",
  Medium: "Warning",
  Low: "Default",
  Security: "Good",
};

const text = (value: string, extra: Record<string, unknown> = {}) => ({
  type: "TextBlock",
  text: value,
  wrap: true,
  ...extra,
});

function envelope(body: unknown[], actions: unknown[] = []): Record<string, unknown> {
  return {
    type: "message",
    attachments: [
      {
        contentType: "application/vnd.microsoft.card.adaptive",
        contentUrl: null,
        content: {
          $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
          type: "AdaptiveCard",
          version: "1.4",
          body,
          ...(actions.length ? { actions } : {}),
          msteams: { width: "full" },
        },
      },
    ],
  };
}

function single(alert: Alert, shown: number): Record<string, unknown> {
  const body: unknown[] = [
    text(headline(alert), {
      weight: "Bolder",
      size: "Medium",
      color: COLOUR[alert.severity] ?? "Default",
    }),
    { type: "FactSet", facts: facts(alert).map(([title, value]) => ({ title, value })) },
  ];
  const listed = alert.vulnerabilities.slice(0, shown);
  if (listed.length > 0) {
    const more = alert.vul_num - listed.length;
    body.push(
      text(
        listed.map((item) => `- ${vulnerabilityText(item)}`).join("\n") +
          (more > 0 ? `\n\n… and ${more} more` : ""),
      ),
    );
  }
  const actions = alert.console_url
    ? [{ type: "Action.OpenUrl", title: "Open in HSS", url: alert.console_url }]
    : [];
  return envelope(body, actions);
}

function summary(alerts: readonly Alert[], count: number): Record<string, unknown> {
  const lines = alerts
    .slice(0, count)
    .map((alert) => `- **${alert.severity}** ${imageName(alert, 3)}: ${countsText(alert)}`);
  if (alerts.length > count) lines.push(`… and ${alerts.length - count} more in the next message`);
  return envelope([
    text(`swr-scan-on-push: ${alerts.length} images with findings`, {
      weight: "Bolder",
      size: "Medium",
      color: COLOUR[(alerts[0] as Alert).severity] ?? "Default",
    }),
    text(lines.join("\n")),
  ]);
}

const layout: Layout<Record<string, unknown>> = {
  single,
  summary,
  size: jsonBytes,
  maxBytes: MAX_BYTES,
  body: (value) => value,
};

function judge(answer: HttpAnswer, now: number): Verdict {
  if (answer.status >= 200 && answer.status < 300)
    return { ok: true, code: `HTTP ${answer.status}` };
  const error = jsonObject(answer.body)?.error as Record<string, unknown> | undefined;
  const code = typeof error?.code === "string" ? error.code : undefined;
  if (answer.status === 413) {
    return { ok: false, code: code ?? "HTTP 413", message: "the card is too large", fate: "never" };
  }
  if (!code || answer.status === 429 || answer.status >= 500) {
    return httpFailure(answer, now, code ? `${code}: ${shortText(error?.message)}` : undefined);
  }
  return {
    ok: false,
    code,
    message: shortText(error?.message) || `HTTP ${answer.status}`,
    fate: "retry",
  };
}

export const teams: ChannelModule = {
  type: "teams",
  title: "Microsoft Teams (Workflows webhook)",
  signs: false,
  rate: [{ limit: 4, windowMs: 1_000 }],
  maxBytes: MAX_BYTES,
  check(settings) {
    const retired = (url: URL) => url.hostname.endsWith(".webhook.office.com");
    const problems = settingsProblems(settings, {
      title: "Teams Workflows webhook",
      example: "the one Workflows shows, pasted whole with its query (api-version, sp, sv, sig)",
      matches: (url) => !retired(url) && Boolean(url.searchParams.get("sig")),
      signs: false,
    });
    if (settings.url && URL.canParse(settings.url) && retired(new URL(settings.url))) {
      problems.push(
        `${settings.name}: Office 365 connector webhooks are retired; create a Workflows webhook ("Send webhook alerts to a channel") and use its URL`,
      );
    }
    return problems;
  },
  render: (alerts, options) => renderWith(layout, alerts, options),
  async send(settings, rendered, context) {
    return judge(
      await postJson(settings, rendered.body, context, { "content-type": "application/json" }),
      context.now(),
    );
  },
};
