import { type Alert, countsText, facts, headline, imageName, vulnerabilityText } from "../alert";
import {
  type ChannelModule,
  codeVerdict,
  type Layout,
  postJson,
  renderWith,
  settingsProblems,
} from "./channel";

/**
 * WeCom (企业微信) group robot: markdown, whose `content` WeCom limits to 4096 bytes, with its three
 * colours (`warning` orange-red, `info` green, `comment` grey). No signing: the `key` in the URL is
 * the credential. HTTP 200 whatever happened: only `errcode` 0 is delivered. 20 messages a minute.
 */

const MAX_CONTENT_BYTES = 4096;

function colour(severity: string): string {
  if (severity === "Critical" || severity === "High") return "warning";
  return severity === "Medium" ? "info" : "comment";
}

const layout: Layout<string> = {
  single(alert: Alert, shown: number) {
    const lines = [
      `### <font color="${colour(alert.severity)}">${headline(alert)}</font>`,
      ...facts(alert).map(
        ([name, value]) => `> ${name}: ${name === "Found" ? `**${value}**` : value}`,
      ),
    ];
    const listed = alert.vulnerabilities.slice(0, shown);
    if (listed.length > 0) lines.push("", ...listed.map((item) => vulnerabilityText(item, 60)));
    const more = alert.vul_num - listed.length;
    if (listed.length > 0 && more > 0) lines.push(`… and ${more} more`);
    if (alert.console_url) lines.push("", `[Open in HSS](${alert.console_url})`);
    return lines.join("\n");
  },
  summary(alerts, count) {
    const lines = [
      `### swr-scan-on-push: ${alerts.length} images with findings`,
      ...alerts
        .slice(0, count)
        .map(
          (alert) =>
            `<font color="${colour(alert.severity)}">${alert.severity}</font> ${imageName(alert, 3)}: ${countsText(alert)}`,
        ),
    ];
    if (alerts.length > count)
      lines.push(`… and ${alerts.length - count} more in the next message`);
    return lines.join("\n");
  },
  size: (text) => Buffer.byteLength(text),
  maxBytes: MAX_CONTENT_BYTES,
  body: (content) => ({ msgtype: "markdown", markdown: { content } }),
  cut: (text) => cut(text, MAX_CONTENT_BYTES),
};

export const wecom: ChannelModule = {
  type: "wecom",
  title: "WeCom group robot",
  signs: false,
  rate: [{ limit: 20, windowMs: 60_000 }],
  maxBytes: MAX_CONTENT_BYTES,
  check: (settings) =>
    settingsProblems(settings, {
      title: "WeCom robot",
      example: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…",
      matches: (url) =>
        url.pathname.endsWith("/cgi-bin/webhook/send") && Boolean(url.searchParams.get("key")),
      signs: false,
    }),
  render: (alerts, options) => renderWith(layout, alerts, options),
  async send(settings, rendered, context) {
    return codeVerdict(await postJson(settings, rendered.body, context), context.now(), {
      name: "WeCom",
      field: "errcode",
      code: (body) => body.errcode,
      message: (body) => body.errmsg,
      // No Retry-After; a minute's block has been seen to last 60 s, so wait a little more.
      waits: { 45009: 65_000 },
      // 40008 (message type), 40058 (a field), 44004 (empty content): this body never passes.
      // 93000 (the key) and the rest: settings to fix, retried.
      never: [40008, 40058, 44004],
    });
  },
};

/** Cuts text to `max` UTF-8 bytes on a character boundary, ending in "…". */
export function cut(text: string, max: number): string {
  const buffer = Buffer.from(text);
  if (buffer.length <= max) return text;
  let end = max - 3;
  while (end > 0 && ((buffer[end] ?? 0) & 0xc0) === 0x80) end--;
  return `${buffer.subarray(0, end).toString()}…`;
}
