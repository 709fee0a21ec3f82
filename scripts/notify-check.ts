import { type ChatStandIns, type Robot, startChatStandIns } from "../src/emulator/chat-stand-ins";
import {
  emulatorEnvironment,
  HSS_RATE_LIMIT,
  type HssEmulator,
  startHssEmulator,
} from "../src/emulator/hss-emulator";
import { startRedis } from "../test/support/redis-server";
import { killServer, type LocalServer, startServer } from "./support/local-server";

/**
 * `npm run notify-check`: alerts from push to chat, measured with real processes. Two `npm start`
 * sharing one redis-server (the queue and the alert outbox), the HSS emulator with HSS's limit
 * (5 calls per API a minute), and the chat stand-ins: DingTalk (signed), Feishu (signed), Slack.
 *
 * 300 pushes with findings over 12 namespaces (250 digests; 50 of them pushed under two tags in
 * the burst), three routes. DingTalk answers HTTP 200 with errcode -1 until it has refused once
 * and 10 s have passed; the first server is killed (SIGKILL) while a post to Feishu is in flight,
 * and the second one started. Then every digest is pushed again under a new tag. Printed: per
 * channel, the alerts a route called for, those delivered once, missing or twice, the messages
 * (summaries among them), the most in any minute (and second) against the platform's limit, the
 * refusals for rate, and the notify_failed lines with the platform's codes.
 */

const LIMIT_MS = Number(process.env.NOTIFY_CHECK_MINUTES ?? 15) * 60_000;
const HOST = "swr-ee-notify.example.com";
const INSTANCE = "notify-instance";
const DIGESTS = 250;
const TWICE = 50;

interface Image {
  namespace: string;
  name: string;
  severity: "high" | "medium";
  digest: string;
}

const GROUPS = ["a", "b", "c"] as const;

function imagesOf(): Image[] {
  return Array.from({ length: DIGESTS }, (_, i) => ({
    namespace: `team-${GROUPS[i % 3]}-${i % 4}`,
    name: `svc-${i}`,
    severity: i % 5 === 0 ? "medium" : "high",
    digest: `sha256:${i.toString(16).padStart(64, "0")}`,
  }));
}

function pushEvent(image: Image, tags: string[]) {
  return {
    type: "PUSH_ARTIFACT",
    occur_at: Math.floor(Date.now() / 1000),
    event_data: {
      resources: tags.map((tag) => ({
        digest: image.digest,
        tag,
        resource_url: `${HOST}/${image.namespace}/${image.name}:${tag}`,
      })),
      repository: {
        name: image.name,
        namespace: image.namespace,
        repo_full_name: `${image.namespace}/${image.name}`,
        repo_type: "private",
      },
    },
  };
}

/** Pushes within 10 s: each tag to the registry, then one event per image naming its tags. */
async function pushAll(emulator: HssEmulator, url: string, pushes: Array<[Image, string[]]>) {
  const gap = 10_000 / pushes.length;
  const statuses = await Promise.all(
    pushes.map(async ([image, tags], index) => {
      await new Promise((resolve) => setTimeout(resolve, index * gap));
      for (const tag of tags) {
        emulator.push({
          image_type: "instance_image",
          namespace: image.namespace,
          image_name: image.name,
          image_version: tag,
          instance_id: INSTANCE,
          host: HOST,
        });
      }
      const answer = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(pushEvent(image, tags)),
      });
      return answer.status;
    }),
  );
  return statuses.filter((status) => status === 202).length;
}

/** How many times each image is named in the robot's accepted messages. */
function namedCounts(robot: Robot, images: Image[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const message of robot.accepted()) {
    const text = JSON.stringify(message.body);
    for (const image of images) {
      const name = `${image.namespace}/${image.name}:`;
      let from = text.indexOf(name);
      while (from >= 0) {
        counts.set(name, (counts.get(name) ?? 0) + 1);
        from = text.indexOf(name, from + name.length);
      }
    }
  }
  return counts;
}

/** The most messages the robot took in any window of `windowMs`. */
function most(robot: Robot, windowMs: number): number {
  const times = robot.accepted().map((message) => message.at);
  let best = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while ((times[i] ?? 0) - (times[j] ?? 0) >= windowMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const images = imagesOf();
  const expected: Record<"ding" | "feishu" | "slack", Image[]> = {
    slack: images.filter((image) => image.severity === "high"),
    ding: images.filter(
      (image) => image.namespace.startsWith("team-a") && image.severity === "high",
    ),
    feishu: images.filter((image) => image.namespace.startsWith("team-b")),
  };
  const redis = await startRedis();
  const emulator = await startHssEmulator({ rateLimit: HSS_RATE_LIMIT });
  const chat: ChatStandIns = await startChatStandIns();
  const robots = {
    ding: chat.robot("dingtalk", { signed: true }),
    feishu: chat.robot("feishu", { signed: true }),
    slack: chat.robot("slack"),
  };
  const env = {
    ...emulatorEnvironment(emulator),
    SCAN_QUEUE: redis.url,
    WEBHOOK_AUTH: "none",
    SWR_INSTANCES: JSON.stringify({ [HOST]: INSTANCE }),
    FLUSH_INTERVAL_SECONDS: "5",
    FOLLOW_UP_INTERVAL_SECONDS: "5",
    LOG_LEVEL: "info",
    NOTIFY_CHANNELS: JSON.stringify({
      ding: { type: "dingtalk", url: robots.ding.url, secret: robots.ding.secret },
      feishu: { type: "feishu", url: robots.feishu.url, secret: robots.feishu.secret },
      slack: { type: "slack", url: robots.slack.url },
    }),
    NOTIFY_ROUTES: JSON.stringify([
      { name: "security", channels: ["slack"], continue: true },
      { name: "team-a", channels: ["ding"], namespaces: ["team-a-*"] },
      { name: "team-b", channels: ["feishu"], namespaces: ["team-b-*"], min_severity: "medium" },
    ]),
  };
  const servers: LocalServer[] = [];
  const started = Date.now();
  const seconds = () => ((Date.now() - started) / 1000).toFixed(1);
  try {
    chat.outage(robots.ding, true);
    chat.hold(robots.feishu, 4_000);
    const first = await startServer(env);
    servers.push(first);
    process.stderr.write(
      `notify-check, ${new Date().toISOString().slice(0, 10)}: ${DIGESTS + TWICE} tags pushed in ${DIGESTS} deliveries (${DIGESTS} digests, ${TWICE} of them under two tags) over 12 namespaces; routes: every High → Slack, team-a-* → DingTalk (signed), team-b-* from Medium → Feishu (signed); two npm start sharing redis-server; HSS's limit 5 calls/API/minute\n`,
    );
    const pushes: Array<[Image, string[]]> = images.map((image, i) => [
      image,
      i < TWICE ? [`${image.severity}-1`, `${image.severity}-2`] : [`${image.severity}-1`],
    ]);
    const accepted = await pushAll(emulator, first.url, pushes);
    process.stderr.write(`  ${seconds()} s: pushed, answered 202: ${accepted}/${pushes.length}\n`);

    // DingTalk recovers 10 s after its first refusal; the first server dies mid-post to Feishu.
    let killedAt: number | undefined;
    let recoveredAt: number | undefined;
    let second: LocalServer | undefined;
    const done = () =>
      (Object.keys(expected) as Array<keyof typeof expected>).every((channel) => {
        const counts = namedCounts(robots[channel], expected[channel]);
        return expected[channel].every((image) => counts.has(`${image.namespace}/${image.name}:`));
      });
    while (Date.now() - started < LIMIT_MS && !(done() && second)) {
      await sleep(500);
      const failed = servers
        .flatMap((server) => server.lines)
        .filter((line) => line.event === "notify_failed");
      if (!recoveredAt && failed.some((line) => line.channel === "ding")) {
        await sleep(10_000);
        chat.outage(robots.ding, false);
        recoveredAt = Date.now();
        process.stderr.write(`  ${seconds()} s: DingTalk recovered\n`);
      }
      if (!killedAt && chat.inFlight(robots.feishu) > 0) {
        killServer(first);
        killedAt = Date.now();
        chat.hold(robots.feishu, 0);
        second = await startServer(env);
        servers.push(second);
        process.stderr.write(
          `  ${seconds()} s: the first npm start killed mid-post to Feishu; a second one started\n`,
        );
      }
    }
    const deliveredAt = Date.now();
    process.stderr.write(
      `  ${seconds()} s: ${done() ? "every alert delivered" : "stopped waiting"}\n`,
    );
    const before = Object.fromEntries(
      Object.entries(robots).map(([name, robot]) => [name, robot.accepted().length]),
    );

    // The same digests under new tags: nothing new to say.
    const live = second ?? first;
    const again = await pushAll(
      emulator,
      live.url,
      images.map((image) => [image, [`${image.severity}-3`]]),
    );
    const repushedFinished = () =>
      live.lines.filter(
        (line) => line.event === "scan_finished" && String(line.image).includes("-3 "),
      ).length;
    while (Date.now() - deliveredAt < 8 * 60_000 && repushedFinished() < DIGESTS)
      await sleep(1_000);
    await sleep(15_000);
    const after = Object.fromEntries(
      Object.entries(robots).map(([name, robot]) => [name, robot.accepted().length]),
    );
    process.stderr.write(
      `  re-pushed under new tags: answered 202 ${again}/${DIGESTS}; scan_finished ${repushedFinished()}/${DIGESTS}; new messages ${Object.entries(
        after,
      )
        .map(([name, count]) => `${name} ${count - (before[name] ?? 0)}`)
        .join(", ")}\n`,
    );

    for (const channel of Object.keys(expected) as Array<keyof typeof expected>) {
      const robot = robots[channel];
      const counts = namedCounts(robot, expected[channel]);
      const names = expected[channel].map((image) => `${image.namespace}/${image.name}:`);
      const once = names.filter((name) => counts.get(name) === 1).length;
      const missing = names.filter((name) => !counts.has(name)).length;
      const twice = names.filter((name) => (counts.get(name) ?? 0) > 1).length;
      const summaries = robot
        .accepted()
        .filter((message) => JSON.stringify(message.body).includes("images with findings")).length;
      const both = expected[channel]
        .slice(0)
        .filter((image) => images.indexOf(image) < TWICE)
        .filter((image) =>
          robot
            .accepted()
            .some((message) =>
              JSON.stringify(message.body).includes(
                `${image.namespace}/${image.name}:${image.severity}-1, ${image.severity}-2`,
              ),
            ),
        ).length;
      const twoTagged = expected[channel].filter((image) => images.indexOf(image) < TWICE).length;
      process.stderr.write(
        `  ${channel}: alerts called for ${names.length}, delivered once ${once}, missing ${missing}, more than once ${twice}; digests pushed under two tags named with both: ${both}/${twoTagged}; messages ${robot.accepted().length} (summaries ${summaries}); most in a minute ${most(robot, 60_000)}, in a second ${most(robot, 1_000)}; refused for rate ${chat.rateRefusals(robot)}\n`,
      );
    }
    const failed = servers
      .flatMap((server) => server.lines)
      .filter((line) => line.event === "notify_failed");
    const codes = [
      ...new Set(
        failed.map(
          (line) => `${line.channel} ${line.code}${line.message ? ` (${line.message})` : ""}`,
        ),
      ),
    ];
    process.stderr.write(
      `  notify_failed: ${failed.length} lines: ${codes.join("; ") || "none"}\n`,
    );
    process.stderr.write(
      `  killed mid-post: ${killedAt ? `yes, at ${((killedAt - started) / 1000).toFixed(1)} s` : "no post in flight was seen"}; DingTalk refused until ${recoveredAt ? `${((recoveredAt - started) / 1000).toFixed(1)} s` : "the end"}; HSS throttled ${emulator.throttledCount()}\n`,
    );
  } finally {
    for (const server of servers) killServer(server);
    await chat.close();
    await emulator.close();
    await redis.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `notify-check failed: ${error instanceof Error ? error.stack : String(error)}\n`,
  );
  process.exitCode = 1;
});
