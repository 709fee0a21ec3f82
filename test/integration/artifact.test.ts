import { execFile } from "node:child_process";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unzipSync } from "fflate";
import { generate } from "selfsigned";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { BUNDLE_FILE, CODE_CACHE_FILE } from "../../src/bundle-files";
import { CONFIG_VARIABLES, SECRET_VARIABLES } from "../../src/config";
import {
  emulatorEnvironment,
  type HssEmulator,
  startHssEmulator,
} from "../../src/emulator/hss-emulator";
import { EVENT_ENV, EVENT_EXPECTATIONS } from "../support/event-expectations";
import { EVENTS_DIR, eventFiles } from "../support/fixtures";
import { ROOT } from "../support/local-tool";
import { type RedisServer, startRedis } from "../support/redis-server";

const PACKAGE = join(ROOT, "dist", "swr-scan-on-push.zip");

/**
 * The deployable artifact itself (built by `npm run package`, which `npm test` runs first):
 * unzipped into an empty folder, with no node_modules anywhere near it, and loaded by a fresh
 * Node.js process, as FunctionGraph would.
 */
describe("the packaged function", () => {
  let folder: string;
  let emulator: HssEmulator;
  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), "artifact-"));
    for (const [name, content] of Object.entries(unzipSync(readFileSync(PACKAGE)))) {
      writeFileSync(join(folder, name), content);
    }
    // Every sample in one process: HSS's rate limit is not what this test is about.
    emulator = await startHssEmulator({ rateLimit: false });
  });
  afterAll(() => emulator.close());

  it("has index.js, the bundle and its code cache at the root of the zip", () => {
    const entries = Object.keys(unzipSync(readFileSync(PACKAGE)));
    expect(entries).toEqual(expect.arrayContaining(["index.js", BUNDLE_FILE, CODE_CACHE_FILE]));
    expect(entries.filter((entry) => entry.includes("/"))).toEqual([]);
  });

  it("runs the bundle with its code cache, and without one when the cache does not fit", async () => {
    // Prepare: the unzipped artifact, and copies with a cache for other code and with none
    const own = await startHssEmulator({ rateLimit: false });
    const env = { PATH: process.env.PATH, ...emulatorEnvironment(own), ...EVENT_ENV };
    const stale = mkdtempSync(join(tmpdir(), "stale-cache-"));
    const absent = mkdtempSync(join(tmpdir(), "no-cache-"));
    for (const name of readdirSync(folder).filter((entry) => entry.includes("."))) {
      copyFileSync(join(folder, name), join(stale, name));
      if (name !== CODE_CACHE_FILE) copyFileSync(join(folder, name), join(absent, name));
    }
    // The same length, other code: V8 alone would take this cache for the bundle's.
    const code = readFileSync(join(stale, BUNDLE_FILE), "utf8");
    writeFileSync(join(stale, BUNDLE_FILE), code.replace("swr-scan-on-push", "swr-scan-on-pusH"));
    const push = readFileSync(join(EVENTS_DIR, "apig-swr-ee-push.json"), "utf8");
    const run = (dir: string, nodeFlags: string[] = []) =>
      new Promise<{ codeCache: string; status: number }>((resolve, reject) =>
        execFile(
          process.execPath,
          [
            ...nodeFlags,
            "-e",
            `const loaded = require(${JSON.stringify(join(dir, "index.js"))});
             loaded.handler(${push}, { getRequestID: () => "cache", getRemainingTimeInMilliSeconds: () => 30000 })
               .then((answer) => process.stdout.write(JSON.stringify({ codeCache: loaded.codeCache, status: answer.statusCode })));`,
          ],
          { env },
          (error, stdout) => (error ? reject(error) : resolve(JSON.parse(stdout))),
        ),
      );

    // Act and assess
    expect(await run(folder)).toEqual({ codeCache: "used", status: 202 });
    expect(await run(stale)).toEqual({ codeCache: "absent", status: 202 });
    expect(await run(absent)).toEqual({ codeCache: "absent", status: 202 });
    // V8 refuses a cache made under other V8 flags (a heap limit is one).
    expect(await run(folder, ["--max-old-space-size=256"])).toEqual({
      codeCache: "rejected",
      status: 202,
    });
    await own.close();
  });

  it("loads zod from its own file and cache when a schema is first built, never for a push", async () => {
    // Prepare: one push, then a manual scan request (a direct invocation, checked with zod), in
    // one fresh process
    const own = await startHssEmulator({ rateLimit: false });
    const env = { PATH: process.env.PATH, ...emulatorEnvironment(own), ...EVENT_ENV };
    const event = (file: string) => readFileSync(join(EVENTS_DIR, file), "utf8");
    const script = `const loaded = require(${JSON.stringify(join(folder, "index.js"))});
      const context = { getRequestID: () => "zod", getRemainingTimeInMilliSeconds: () => 30000 };
      const state = (answer) => ({ status: answer.statusCode ?? answer.status, caches: loaded.codeCaches(), zod: "__zod_globalConfig" in globalThis });
      (async () => {
        const pushed = state(await loaded.handler(${event("apig-swr-ee-push.json")}, context));
        const requested = state(await loaded.handler(${event("direct-image-list.json")}, context));
        process.stdout.write(JSON.stringify({ pushed, requested }));
      })();`;

    // Act
    const { pushed, requested } = await new Promise<Record<string, unknown>>((resolve, reject) =>
      execFile(process.execPath, ["-e", script], { env }, (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(JSON.parse(stdout)),
      ),
    );
    await own.close();

    // Assess
    expect(pushed).toEqual({ status: 202, caches: { [BUNDLE_FILE]: "used" }, zod: false });
    expect(requested).toEqual({
      status: "submitted",
      caches: { [BUNDLE_FILE]: "used", "zod.js": "used" },
      zod: true,
    });
  });

  it("signs a push without Node's legacy URL parser (its first call costs a cold start 0.7 ms)", async () => {
    // Prepare: url.parse counts its calls in a fresh process that handles one push
    const own = await startHssEmulator({ rateLimit: false });
    const env = { PATH: process.env.PATH, ...emulatorEnvironment(own), ...EVENT_ENV };
    const script = `const url = require("node:url");
      const parse = url.parse;
      let calls = 0;
      url.parse = (...args) => { calls += 1; return parse(...args); };
      const loaded = require(${JSON.stringify(join(folder, "index.js"))});
      const context = { getRequestID: () => "url", getRemainingTimeInMilliSeconds: () => 30000 };
      loaded.handler(${readFileSync(join(EVENTS_DIR, "apig-swr-ee-push.json"), "utf8")}, context)
        .then((answer) => process.stdout.write(JSON.stringify({ status: answer.statusCode, calls })));`;

    // Act
    const result = await new Promise<unknown>((resolve, reject) =>
      execFile(process.execPath, ["-e", script], { env }, (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(JSON.parse(stdout)),
      ),
    );
    await own.close();

    // Assess: HSS (the emulator checks the signature) accepted the push, signed without url.parse
    expect(result).toEqual({ status: 202, calls: 0 });
  });

  it("handles every sample in events/ against the HSS emulator from a fresh process", async () => {
    // Prepare: a script that loads the artifact and runs each event, one JSON line per event
    const runner = join(mkdtempSync(join(tmpdir(), "runner-")), "run.js");
    mkdirSync(join(folder, "events"), { recursive: true });
    writeFileSync(
      runner,
      `const { handler } = require(${JSON.stringify(join(folder, "index.js"))});
       const events = ${JSON.stringify(Object.fromEntries(eventFiles().map((file) => [file, JSON.parse(readFileSync(join(EVENTS_DIR, file), "utf8"))])))};
       (async () => {
         for (const [file, event] of Object.entries(events)) {
           const context = { getRequestID: () => file, getRemainingTimeInMilliSeconds: () => 30000 };
           const result = await handler(event, context).catch((error) => ({ rejected: error.message }));
           process.stdout.write(JSON.stringify({ file, result }) + "\\n");
         }
       })();`,
    );
    const env = {
      PATH: process.env.PATH,
      ...emulatorEnvironment(emulator),
      ...EVENT_ENV,
      HSS_CALLS_PER_MINUTE: "100",
    };

    // Act: cwd is the unzipped folder, so nothing outside it can be resolved
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [runner], { cwd: folder, env }, (error, out, err) =>
        error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out),
      ),
    );

    // Assess: each event answered as expected, and HSS received exactly the expected requests
    const results = stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(results.map((r) => r.file)).toEqual(eventFiles());
    for (const { file, result } of results) {
      const expected = EVENT_EXPECTATIONS[file];
      expect(expected, file).toBeDefined();
      if (expected?.answer === "direct") expect(result.status, file).toMatch(/submitted/);
      else expect(result.statusCode, file).toBe(expected?.answer);
    }
    const expectedBatches = eventFiles().flatMap((file) => EVENT_EXPECTATIONS[file]?.batches ?? []);
    expect(emulator.acceptedBatches()).toEqual(expectedBatches);
    expect(emulator.received.filter((request) => !request.signature.valid)).toEqual([]);
  });
});

describe("the packaged function with a Redis queue", () => {
  let emulator: HssEmulator;
  let pems: { cert: string; key: string };
  const servers: RedisServer[] = [];
  beforeAll(async () => {
    emulator = await startHssEmulator();
    const made = await generate([{ name: "commonName", value: "localhost" }], {
      keySize: 2048,
      algorithm: "sha256",
      extensions: [
        { name: "basicConstraints", cA: true },
        { name: "subjectAltName", altNames: [{ type: 7, ip: "127.0.0.1" }] },
      ],
    });
    pems = { cert: made.cert, key: made.private };
  });
  afterAll(async () => {
    await emulator.close();
    for (const redis of servers) await redis.close();
  });

  /** One push and one scheduled flush, by the artifact alone in an empty folder. */
  async function pushAndFlush(redis: RedisServer, env: Record<string, string> = {}) {
    servers.push(redis);
    const folder = mkdtempSync(join(tmpdir(), "artifact-redis-"));
    for (const [name, content] of Object.entries(unzipSync(readFileSync(PACKAGE)))) {
      writeFileSync(join(folder, name), content);
    }
    const push = readFileSync(join(EVENTS_DIR, "apig-swr-ee-push.json"), "utf8");
    const runner = join(folder, "run.js");
    writeFileSync(
      runner,
      `const { handler, codeCaches } = require("./index.js");
       const context = { getRequestID: () => "r", getRemainingTimeInMilliSeconds: () => 30000 };
       (async () => {
         const pushed = await handler(${push}, context);
         const timer = await handler({ version: "v1.0", time: new Date().toISOString(), trigger_type: "TIMER", trigger_name: "flush" }, context);
         process.stdout.write(JSON.stringify({ pushed: JSON.parse(pushed.body), timer, caches: codeCaches(), tls: process.moduleLoadList.includes("NativeModule tls") }));
         process.exit(0);
       })();`,
    );
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        [runner],
        {
          cwd: folder,
          env: {
            PATH: process.env.PATH,
            ...emulatorEnvironment(emulator),
            ...EVENT_ENV,
            SCAN_QUEUE: redis.url,
            LOG_LEVEL: "error",
            ...env,
          },
        },
        (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out)),
      ),
    );
    return JSON.parse(stdout);
  }

  it("loads its Redis backend from the file beside index.js, with its code cache, and queues, flushes and answers", async () => {
    // Act
    const { pushed, timer, caches, tls } = await pushAndFlush(await startRedis());

    // Assess
    // Every file ran from the code cache written beside it at build time: zod's too, for the
    // list call that follows the queued push right away.
    expect(caches).toEqual({
      "scan-on-push.js": "used",
      "redis-queue.js": "used",
      "zod.js": "used",
    });
    // Node's tls is not loaded for a redis:// queue (scripts/bundle-stubs/on-first-use.ts).
    expect(tls).toBe(false);
    expect(pushed).toMatchObject({ status: "submitted", flush: { images_submitted: 1 } });
    expect(timer).toMatchObject({ status: "flushed", queue: { pending: 0, claimed: 0 } });
    expect(emulator.acceptedBatches()).toHaveLength(1);
  });

  it("queues through TLS (rediss://), its tls module loaded only then", async () => {
    // Prepare
    const redis = await startRedis({ tls: pems });
    const before = emulator.acceptedBatches().length;

    // Act
    const { pushed, tls } = await pushAndFlush(redis, { SCAN_QUEUE_CA: pems.cert });

    // Assess
    expect(redis.url).toMatch(/^rediss:/);
    expect(tls).toBe(true);
    expect(pushed).toMatchObject({ status: "submitted", flush: { images_submitted: 1 } });
    expect(emulator.acceptedBatches()).toHaveLength(before + 1);
  });
});

/** serverless.yml's `${param:…}` with an empty default, as written there. */
const deployParameter = (name: string) => `\${param:${name}, ''}`;

describe("serverless.yml", () => {
  const guide = readFileSync(join(ROOT, "docs", "deploy.md"), "utf8");
  const manifest = parse(readFileSync(join(ROOT, "serverless.yml"), "utf8"));
  const functions = Object.values(manifest.functions) as Array<Record<string, unknown>>;
  const events = functions[0]?.events as Array<Record<string, Record<string, unknown>>>;
  const plain = Object.keys(manifest.provider.environment);
  const encrypted = Object.keys(manifest.provider.encryptedEnvironment);

  it("deploys the zip with this repository's FunctionGraph provider on Node.js 20.15", () => {
    expect(manifest.frameworkVersion).toBe("3");
    expect(manifest.configValidationMode).toBe("error");
    expect(manifest.provider).toMatchObject({ name: "huawei", runtime: "Node.js20.15" });
    expect(manifest.plugins).toEqual(["./deploy/functiongraph", "./deploy/function-checks"]);
    expect(manifest.package.artifact).toBe("dist/swr-scan-on-push.zip");
  });

  it("points the handler at the bundle's export", () => {
    expect(functions).toHaveLength(1);
    const [file, exported] = String(functions[0]?.handler).split(".");
    expect(file).toBe("index");
    const bundle = require(join(ROOT, "dist", "index.js"));
    expect(typeof bundle[exported as string]).toBe("function");
  });

  it("sets only variables the function reads, within FunctionGraph's 20 of each kind", () => {
    for (const variable of [...plain, ...encrypted]) expect(CONFIG_VARIABLES).toContain(variable);
    expect(plain.length).toBeLessThanOrEqual(20);
    expect(encrypted.length).toBeLessThanOrEqual(20);
  });

  it("deploys every secret as an encrypted variable, none as a plain one", () => {
    expect(plain.filter((variable) => SECRET_VARIABLES.has(variable))).toEqual([]);
    expect(encrypted.sort()).toEqual(
      [
        "NOTIFY_CHANNELS",
        "NOTIFY_SMN_TOPIC",
        "NOTIFY_WEBHOOK_URL",
        "SCAN_QUEUE",
        "WEBHOOK_SECRET",
      ].sort(),
    );
    for (const variable of encrypted) expect(SECRET_VARIABLES.has(variable), variable).toBe(true);
  });

  it("flushes the scan queue with a timer trigger every minute", () => {
    expect(events).toContainEqual({
      timer: expect.objectContaining({ scheduleType: "Rate", schedule: "1m" }),
    });
  });

  it("attaches the function to the Redis VPC only when both ids are given", () => {
    expect(functions[0]).toMatchObject({
      vpcId: deployParameter("vpcId"),
      subnetId: deployParameter("subnetId"),
    });
    expect(manifest.provider.encryptedEnvironment.SCAN_QUEUE).toBe(
      `\${param:scanQueue, env:SCAN_QUEUE, ''}`,
    );
  });

  it("gives the function an agency and a dedicated-gateway trigger for POST webhooks", () => {
    expect(manifest.provider.agencyName).toBeTruthy();
    // The shared gateway (APIG) is closed to new users: the dedicated one is the default.
    expect(events).toContainEqual({
      apiGateway: expect.objectContaining({
        type: `\${param:gatewayType, 'DEDICATEDGATEWAY'}`,
        instanceId: deployParameter("apigInstanceId"),
        groupId: deployParameter("apigGroupId"),
        method: "POST",
        auth: "NONE",
        path: "/swr-scan-on-push",
      }),
    });
  });

  it("names the function explicitly, as docs/deploy.md does", () => {
    // Without `name:` the framework would name it swr-scan-on-push-dev-swr-scan-on-push.
    expect(functions[0]?.name).toBe("swr-scan-on-push");
    expect(guide).toMatch(/function\s+`swr-scan-on-push`/);
  });
});
