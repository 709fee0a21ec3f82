import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startChatStandIns } from "../src/emulator/chat-stand-ins";
import { emulatorEnvironment, startHssEmulator } from "../src/emulator/hss-emulator";
import { inHss } from "../test/support/harness";
import { startRedis } from "../test/support/redis-server";
import { killServer, startServer } from "./support/local-server";

/**
 * `npm run rescan-check`: images already pushed, re-evaluated, measured with real processes.
 * One `npm start` on a redis-server takes 1,000 pushed images (20 namespaces × 5 repositories ×
 * 10 tags) against the HSS emulator with HSS's limit (5 calls per API a minute) and follows each
 * scan to its result (each digest's baseline). Then HSS learns of a vulnerability affecting 40 of
 * them (2 per namespace) and of another affecting 10 more, which the exceptions file accepts.
 * `rescan --now` (a real process on the same Redis) runs a pass; a second pass follows. Printed:
 * per pass, the rescans queued against the cap, HSS calls per API, throttled calls, the images
 * alerted (webhook: exactly which; DingTalk, for one route, within its rate), and the state kept
 * per image; then the CI gate on an excepted image, with and without the same file.
 */

const ROOT = join(__dirname, "..");
const HOST = "swr-ee-rescan.example.com";
const INSTANCE = "rescan-instance";
const NAMESPACES = 20;
const REPOSITORIES = 5;
const TAGS = 10;
const day = (offset: number) =>
  new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);

const images = Array.from({ length: NAMESPACES * REPOSITORIES * TAGS }, (_, i) => ({
  namespace: `ns-${String(Math.floor(i / (REPOSITORIES * TAGS))).padStart(2, "0")}`,
  name: `svc-${Math.floor(i / TAGS) % REPOSITORIES}`,
  tag: `1.${i % TAGS}`,
}));
const nameOf = (image: (typeof images)[number]) => `${image.namespace}/${image.name}:${image.tag}`;
/** 2 per namespace: the 1st and 26th image of each. */
const affected = images.filter((_, i) => i % 25 === 0);
/** 10 more: accepted by the exceptions file. */
const accepted = images.filter((_, i) => i % 100 === 7);

function run(tool: string, args: string[], env: Record<string, string>, timeoutMs: number) {
  return new Promise<{ code: number; stdout: string; stderr: string; ms: number }>((resolve) => {
    const started = Date.now();
    execFile(
      join(ROOT, "node_modules", ".bin", "tsx"),
      [`src/${tool}`, ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? "", ...env }, timeout: timeoutMs },
      (error, stdout, stderr) =>
        resolve({
          code: error ? ((error as { code?: number }).code ?? 1) : 0,
          stdout,
          stderr,
          ms: Date.now() - started,
        }),
    );
  });
}

async function main() {
  const redis = await startRedis();
  const emulator = await startHssEmulator();
  const chat = await startChatStandIns();
  const hook = chat.robot("webhook");
  const ding = chat.robot("dingtalk", { signed: true });
  const ignoreFile = `CVE-2026-88002 package=zlib until=${day(60)} owner=platform # reviewed: the code path is not reachable\n`;
  const env: Record<string, string> = {
    ...emulatorEnvironment(emulator),
    WEBHOOK_SECRET: "rescan-check-secret-0123456789",
    SCAN_QUEUE: redis.url,
    HSS_BATCH_SIZE: "250",
    FOLLOW_UP_INTERVAL_SECONDS: "5",
    RESCAN_EVERY_DAYS: "7",
    RESCAN_MAX_PER_DAY: "2500",
    NOTIFY_MIN_SEVERITY: "low",
    NOTIFY_IGNORE: ignoreFile,
    NOTIFY_CHANNELS: JSON.stringify({
      all: { type: "webhook", url: hook.url },
      ops: { type: "dingtalk", url: ding.url, secret: ding.secret },
    }),
    NOTIFY_ROUTES: JSON.stringify([
      { name: "all", channels: ["all"], continue: true },
      { name: "ops", channels: ["ops"], namespaces: ["ns-0*"] },
    ]),
  };
  try {
    for (const image of images) inHss(emulator, { ...image, instance: INSTANCE, host: HOST });
    // 1. The pushes, through `npm start`, followed to their results.
    const started = Date.now();
    const server = await startServer({ ...env, LOG_LEVEL: "info", FLUSH_INTERVAL_SECONDS: "2" });
    for (let r = 0; r < NAMESPACES * REPOSITORIES; r++) {
      const group = images.slice(r * TAGS, (r + 1) * TAGS);
      const first = group[0] as (typeof images)[number];
      await fetch(`${server.url}/?instance_id=${INSTANCE}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          authorization: env.WEBHOOK_SECRET as string,
        },
        body: JSON.stringify({
          type: "PUSH_ARTIFACT",
          occur_at: Math.floor(Date.now() / 1000),
          event_data: {
            resources: group.map((image) => ({
              digest: `sha256:${nameOf(image).replace(/\W/g, "").padEnd(64, "0").slice(0, 64)}`,
              tag: image.tag,
              resource_url: `${HOST}/${nameOf(image)}`,
            })),
            repository: {
              name: first.name,
              namespace: first.namespace,
              repo_full_name: `${first.namespace}/${first.name}`,
            },
          },
        }),
      });
    }
    const finished = () => server.lines.filter((line) => line.event === "scan_finished").length;
    while (finished() < images.length && Date.now() - started < 15 * 60_000) {
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
    const pushCalls = emulator.callsByApi();
    console.log(
      `pushes: ${finished()}/${images.length} followed to their result in ${Math.round((Date.now() - started) / 1000)} s; HSS calls ${JSON.stringify(pushCalls)}; throttled ${emulator.throttledCount()}; alerts posted ${hook.accepted().length}`,
    );
    await killServer(server);

    // 2. HSS learns of two vulnerabilities.
    emulator.publish("CVE-2026-88001", "openssl", affected.map(nameOf));
    emulator.publish("CVE-2026-88002", "zlib", accepted.map(nameOf));

    // 3. Two passes of `rescan --now`.
    for (const pass of [1, 2]) {
      const before = { calls: emulator.callsByApi(), throttled: emulator.throttledCount() };
      const posts = hook.accepted().length;
      const dingPosts = ding.accepted().length;
      const result = await run(
        "cli/rescan.ts",
        ["--now", "--json", "--wait", "1500"],
        env,
        1_600_000,
      );
      const summary = JSON.parse(result.stdout || "{}");
      const calls = Object.fromEntries(
        Object.entries(emulator.callsByApi()).map(([api, n]) => [
          api,
          n - (before.calls[api] ?? 0),
        ]),
      );
      const alerted = hook
        .accepted()
        .slice(posts)
        .flatMap((post) => (post.body.alerts as Array<Record<string, unknown>>) ?? [])
        .filter((alert) => alert.event === "new_vulnerabilities")
        .map(
          (alert) => `${alert.namespace}/${alert.repository}:${(alert.tags as string[]).join(",")}`,
        );
      const expected = pass === 1 ? affected.map(nameOf).sort() : [];
      const exact =
        JSON.stringify([...alerted].sort()) === JSON.stringify(expected) &&
        new Set(alerted).size === alerted.length;
      console.log(
        `pass ${pass}: queued ${summary.queued} (today ${summary.spent_today} of ${summary.max_per_day}), followed ${summary.followed} in ${Math.round(result.ms / 1000)} s; HSS calls ${JSON.stringify(calls)}; throttled ${emulator.throttledCount() - before.throttled}`,
      );
      console.log(
        `pass ${pass}: webhook alerts ${alerted.length} (${exact ? "exactly the expected images" : `NOT the expected ${expected.length}`}), excepted images alerted ${alerted.filter((name) => accepted.map(nameOf).includes(name)).length}; DingTalk messages ${ding.accepted().length - dingPosts}, refused for rate ${chat.rateRefusals(ding)}`,
      );
      if (result.code !== 0)
        console.log(`pass ${pass}: exit ${result.code}: ${result.stderr.slice(0, 500)}`);
    }

    // 4. State kept per image.
    const { default: Redis } = await import("ioredis");
    const admin = new Redis(redis.url);
    const seen = await admin.keys("*kept:seen:*");
    let bytes = 0;
    for (const key of seen) bytes += Number(await admin.call("MEMORY", "USAGE", key));
    const setKeys = await admin.keys("*rescan*");
    let setBytes = 0;
    for (const key of setKeys) setBytes += Number(await admin.call("MEMORY", "USAGE", key));
    await admin.quit();
    console.log(
      `state: ${seen.length} digests, ${Math.round(bytes / seen.length)} bytes each (findings); rescan set ${Math.round(setBytes / images.length)} bytes an image (${setKeys.length} keys)`,
    );

    // 5. The gate on an excepted image, with the same file and without.
    const dir = mkdtempSync(join(tmpdir(), "rescan-check-"));
    writeFileSync(join(dir, ".hssignore"), ignoreFile);
    const target = `${HOST}/${nameOf(accepted[0] as (typeof images)[number])}`;
    // The CI job's own environment: HSS and the registry's instance, nothing of the function's.
    const gateEnv = {
      ...emulatorEnvironment(emulator),
      SWR_INSTANCES: JSON.stringify({ [HOST]: INSTANCE }),
    };
    const withFile = await run(
      "cli/scan.ts",
      [target, "--wait", "--fail-on", "low", "--ignore-file", join(dir, ".hssignore")],
      gateEnv,
      600_000,
    );
    const without = await run(
      "cli/scan.ts",
      [target, "--wait", "--fail-on", "low"],
      gateEnv,
      600_000,
    );
    console.log(
      `gate on ${target}: with the file exit ${withFile.code}, without it exit ${without.code}`,
    );
  } finally {
    await chat.close();
    await emulator.close();
    await redis.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
