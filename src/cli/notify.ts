import { smnCallerOf } from "../composition-root";
import { ConfigError, loadConfig } from "../config";
import type { Alert } from "../notify/alert";
import type { ChannelSettings, Verdict } from "../notify/channels/channel";
import { channelModule } from "../notify/channels/index";
import { sendContextOf } from "../notify/notifier";
import { defineCommand, noOperands, readCommandLine, UsageError, withoutHss } from "./command";

/**
 * `swr-scan-on-push notify --test`: posts a sample alert to each configured channel
 * (NOTIFY_CHANNELS, NOTIFY_WEBHOOK_URL, NOTIFY_SMN_TOPIC) and prints what each platform
 * answered, judged as the function judges it: the platform's own success, or its code and message.
 */

export const NOTIFY_COMMAND = defineCommand({
  name: "swr-scan-on-push notify",
  summary: "posts a sample alert to each configured channel and prints each platform's answer",
  usage:
    "swr-scan-on-push notify --test [--channel <name>]… [--json]   (in a clone: npm run --silent notify -- …)",
  flags: {
    test: {
      type: "boolean",
      default: false,
      help: "post the sample alert (the only action, so that nothing is posted by accident)",
    },
    channel: {
      type: "string",
      multiple: true,
      default: [],
      value: "<name>",
      help: "only this channel (repeat for several); default: every channel",
    },
    json: { type: "boolean", default: false, help: "one JSON value instead of lines" },
  },
  variables: [
    ["NOTIFY_CHANNELS", "the channels, as the function reads them (docs/notifications.md)"],
    ["NOTIFY_WEBHOOK_URL, NOTIFY_SMN_TOPIC", "the older single channels, named webhook and smn"],
    [
      "HSS_REGION, HSS_PROJECT_ID, CLOUD_SDK_AK, CLOUD_SDK_SK",
      "for an SMN channel: SMN is signed with these",
    ],
  ],
  exits: [
    [0, "every channel took the sample alert"],
    [1, "a channel refused it or could not be reached: the line says the platform's answer"],
    [2, "usage or configuration error, or no channel configured"],
  ],
});

/** The alert every channel is sent: obviously a test, shaped like a real one. */
export function sampleAlert(region?: string): Alert {
  return {
    event: "scan_finished",
    image_type: "private_image",
    namespace: "swr-scan-on-push",
    repository: "notify-test",
    tags: ["sample", "latest"],
    digest: `sha256:${"0".repeat(64)}`,
    severity: "High",
    vul_num: 3,
    malicious_file_num: 0,
    unsafe_setting_num: 1,
    counts: { High: 1, Medium: 1, Low: 1 },
    vulnerabilities: [
      {
        id: "SAMPLE-0001",
        severity: "High",
        package: "openssl",
        installed: "1.1.1k",
        fix: "a test of swr-scan-on-push's notifications: nothing to fix",
      },
      { id: "SAMPLE-0002", severity: "Medium", package: "zlib", installed: "1.2.11" },
      { id: "SAMPLE-0003", severity: "Low", package: "bash", installed: "5.1" },
    ],
    ...(region ? { console_url: `https://console.huaweicloud.com/hss2/?region=${region}` } : {}),
  };
}

interface Answer {
  channel: string;
  type: string;
  ok: boolean;
  answer: string;
  message?: string;
}

const say = (line: string) => process.stdout.write(`${line}\n`);
const complain = (line: string) => process.stderr.write(`${line}\n`);

export async function runNotify(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const line = readCommandLine(NOTIFY_COMMAND, args, ({ values, positionals }) => {
    noOperands(positionals);
    if (!values.test) throw new UsageError("--test is required: it is what this command does");
    return { channels: values.channel, json: values.json };
  });
  if ("exit" in line) return line.exit;
  const options = line.options;
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(withoutHss(env));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    complain(`configuration: ${error.problems.join("\n  ")}`);
    return 2;
  }
  const all = config.notify.channels;
  if (all.length === 0) {
    complain("no channel is configured: set NOTIFY_CHANNELS (docs/notifications.md)");
    return 2;
  }
  const unknown = options.channels.filter((name) => !all.some((channel) => channel.name === name));
  if (unknown.length > 0) {
    complain(
      `no channel named ${unknown.join(", ")}; configured: ${all.map((channel) => channel.name).join(", ")}`,
    );
    return 2;
  }
  const chosen = options.channels.length
    ? all.filter((channel) => options.channels.includes(channel.name))
    : all;
  const answers = await testChannels(chosen, config);
  const scrub = (text: string) =>
    config.secrets.reduce((out, secret) => out.split(secret).join("***"), text);
  if (options.json) say(scrub(JSON.stringify(answers, null, 2)));
  else {
    for (const answer of answers) {
      say(
        scrub(
          `${answer.channel} (${answer.type}): ${answer.ok ? "ok" : "refused"} — ${answer.answer}${answer.message ? `: ${answer.message}` : ""}`,
        ),
      );
    }
  }
  return answers.every((answer) => answer.ok) ? 0 : 1;
}

/** Posts the sample alert to each channel, one after another, and judges each answer. */
export async function testChannels(
  channels: readonly ChannelSettings[],
  config: ReturnType<typeof loadConfig>,
): Promise<Answer[]> {
  const { notify, hss } = config;
  const context = await sendContextOf({
    timeoutMs: notify.timeoutMs,
    smn: smnCallerOf(config, { credentials: config.credentials, projectId: hss.projectId }),
  });
  const options = { maxVulnerabilities: notify.maxVulnerabilities };
  const alert = sampleAlert(hss.region);
  const answers: Answer[] = [];
  for (const channel of channels) {
    const module = channelModule(channel.type);
    let verdict: Verdict;
    try {
      verdict = await module.send(
        channel,
        module.render([alert], { maxVulnerabilities: options.maxVulnerabilities }),
        context,
      );
    } catch (error) {
      verdict = {
        ok: false,
        code: (error as { kind?: string }).kind ?? "error",
        message: (error as Error).message.slice(0, 200),
        fate: "retry",
      };
    }
    answers.push({
      channel: channel.name,
      type: channel.type,
      ok: verdict.ok,
      answer: verdict.code,
      ...(verdict.ok ? {} : { message: verdict.message }),
    });
  }
  return answers;
}

if (require.main === module) {
  runNotify(process.argv.slice(2), process.env).then((code) => {
    process.exitCode = code;
  });
}
