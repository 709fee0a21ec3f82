import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createRequire } from "node:module";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Ajv from "ajv-draft-04";
import addFormats from "ajv-formats";
import { generate } from "selfsigned";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { emulatorEnvironment, type HssEmulator } from "../../../src/emulator/hss-emulator";
import { ROOT, runLocalTool } from "../../support/local-tool";
import { emulatorWith, SCAN_HOST, SCAN_INSTANCE } from "../../support/scan-gate";

/**
 * `scan` as a CI gate beside Trivy and Grype: errors no retry fixes end the run at once, transient
 * scan failures are retried, SARIF that validates against the SARIF 2.1.0 schema, the ignore file,
 * --only-fixed, help and version, and Ctrl-C.
 */

const HOST = SCAN_HOST;
const INSTANCE = SCAN_INSTANCE;
const ref = (tag: string) => `${HOST}/team/api:${tag}`;

const envFor = (emulator: HssEmulator, extra: Record<string, string> = {}) => ({
  PATH: process.env.PATH,
  ...emulatorEnvironment(emulator),
  SWR_INSTANCES: JSON.stringify({ [HOST]: INSTANCE }),
  ...extra,
});

const scan = (emulator: HssEmulator, args: string[], extra: Record<string, string> = {}) =>
  runLocalTool("cli/scan.ts", [...args, "--poll", "1s"], envFor(emulator, extra));

const workDir = () => mkdtempSync(join(tmpdir(), "scan-gate-"));

describe("errors no retry fixes end the run at once", () => {
  let emulator: HssEmulator;
  beforeAll(async () => {
    emulator = await emulatorWith(["clean-1"], { deniedApis: ["list-images"] });
  });
  afterAll(() => emulator.close());

  it("wrong credentials: exit 4 within seconds, saying what to check", async () => {
    const started = Date.now();
    const run = await scan(emulator, [ref("clean-1"), "--wait"], {
      CLOUD_SDK_SK: "not-the-secret-key-at-all-0000000000000",
    });
    expect(run.code).toBe(4);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(run.stderr).toMatch(
      /HSS refused the credentials \(APIGW.0301, HTTP 401: .*check CLOUD_SDK_AK and CLOUD_SDK_SK/,
    );
    expect(run.stderr).not.toContain("not-the-secret-key-at-all");
  });

  it("a permission the IAM user lacks: exit 4, naming the call", async () => {
    const run = await scan(emulator, [ref("clean-1"), "--wait"]);
    expect(run.code).toBe(4);
    expect(run.stderr).toMatch(
      /HSS refused to let this IAM user call ListRegistryImages \(GET \/v5\/\{project_id\}\/image\/registries\/images\) \(HSS.0013/,
    );
  });

  it("an endpoint that refuses connections: exit 5, saying where it tried", async () => {
    const run = await scan(emulator, [ref("clean-1"), "--wait"], {
      HSS_ENDPOINT: "http://127.0.0.1:1",
    });
    expect(run.code).toBe(5);
    expect(run.stderr).toMatch(/HSS at http:\/\/127.0.0.1:1 cannot be reached \(.*ECONNREFUSED/);
  });
});

/** A loopback endpoint that is not HSS: it answers as `answer` says, or (silent) never. */
async function endpoint(
  answer: "silent" | ((response: ServerResponse) => void),
  tls?: { key: string; cert: string },
): Promise<{ url: string; close(): void }> {
  const sockets = new Set<Socket>();
  const handler = (_request: unknown, response: ServerResponse) => {
    if (answer !== "silent") answer(response);
  };
  const server = tls ? createHttpsServer(tls, handler) : createServer(handler);
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls ? "https" : "http"}://127.0.0.1:${port}`,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

describe.concurrent("the gate never waits on silence: exit 5 within 30 s, naming the endpoint variable", () => {
  let emulator: HssEmulator;
  let pems: { key: string; cert: string };
  beforeAll(async () => {
    emulator = await emulatorWith(["high-1"]);
    const made = await generate([{ name: "commonName", value: "127.0.0.1" }], { keySize: 2048 });
    pems = { key: made.private, cert: made.cert };
  });
  afterAll(() => emulator.close());

  const json = (status: number, body: unknown) => (response: ServerResponse) => {
    response.writeHead(status, { "content-type": "application/json" });
    response.end(JSON.stringify(body));
  };
  const text = (status: number, body: string) => (response: ServerResponse) => {
    response.writeHead(status, { "content-type": "text/html" });
    response.end(body);
  };

  it.each<[string, () => Promise<{ url: string; close(): void }>, RegExp]>([
    [
      "a connection that is accepted and never answered",
      () => endpoint("silent"),
      /did not answer: \d calls? in a row got no answer within HSS_TIMEOUT_MS \(2000 ms\)/,
    ],
    [
      "the gateway's 404 APIGW.0101",
      () =>
        endpoint(
          json(404, {
            error_code: "APIGW.0101",
            error_msg: "The API does not exist or has not been published in the environment",
          }),
        ),
      /is not HSS's API: GET \/v5\/\{project_id\}\/image\/registries\/images was answered APIGW\.0101, HTTP 404/,
    ],
    [
      "a 404 page",
      () => endpoint(text(404, "<html>Not Found</html>")),
      /is not HSS's API: .* HTTP_404, HTTP 404/,
    ],
    [
      "a 200 that is not JSON (a proxy's login page)",
      () => endpoint(text(200, "<html>please log in</html>")),
      /is not HSS's API: .*BAD_ANSWER, HTTP 200: the endpoint answered HTTP 200 with a body that is not JSON \("<html>please log in<\/html>"\)/,
    ],
    [
      "a server error every time",
      () => endpoint(json(503, { error_code: "APIGW.0202", error_msg: "backend unavailable" })),
      /did not answer: 3 calls in a row got no answer within HSS_TIMEOUT_MS \(2000 ms\) or a server error.*APIGW\.0202, HTTP 503/,
    ],
    [
      "TLS with a certificate it was not given",
      () => endpoint(json(200, {}), pems),
      /cannot be reached \(CONNECTION_ERROR: .*(self.signed|certificate)/i,
    ],
    [
      "a host name that does not resolve",
      async () => ({ url: "https://hss.cn-north-4.example.invalid", close: () => undefined }),
      /cannot be reached \(CONNECTION_ERROR: (ENOTFOUND|EAI_AGAIN)/,
    ],
    [
      "TLS spoken to a plain HTTP server",
      async () => {
        const plain = await endpoint(json(200, {}));
        return { url: plain.url.replace("http:", "https:"), close: plain.close };
      },
      /cannot be reached \(CONNECTION_ERROR: .*(EPROTO|SSL|wrong version)/i,
    ],
  ])(
    "%s",
    async (_, serve, reason) => {
      const served = await serve();
      try {
        const run = await runLocalTool(
          "cli/scan.ts",
          [ref("high-1"), "--wait", "--fail-on", "high"],
          envFor(emulator, { HSS_ENDPOINT: served.url }),
          { timeoutMs: 60_000 },
        );

        expect(run.code, run.stderr).toBe(5);
        expect(run.ms).toBeLessThan(30_000);
        expect(run.stderr).toMatch(reason);
        expect(run.stderr).toMatch(/check HSS_ENDPOINT \(or HSS_REGION/);
        expect(run.stderr).not.toMatch(/rate limit/);
      } finally {
        served.close();
      }
    },
    70_000,
  );
});

describe("--output is checked before anything is asked of HSS", () => {
  let emulator: HssEmulator;
  beforeAll(async () => {
    emulator = await emulatorWith(["high-1"]);
  });
  afterAll(() => emulator.close());
  const gate = (output: string) =>
    scan(emulator, [
      ref("high-1"),
      "--wait",
      "--fail-on",
      "high",
      "--format",
      "sarif",
      "--output",
      output,
    ]);

  it.each<[string, (dir: string) => string, RegExp]>([
    [
      "into a directory that does not exist",
      (dir) => join(dir, "missing", "hss.sarif"),
      /--output .*missing\/hss\.sarif: the directory .*missing does not exist/,
    ],
    ["onto a directory", (dir) => dir, /--output .* is a directory: give a file/],
  ])("%s: exit 2 at once, no call made", async (_, path, message) => {
    const before = emulator.received.length;
    const run = await gate(path(workDir()));
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(emulator.received.length).toBe(before);
  });

  it("into a file that exists: written, and the verdict (1) kept", async () => {
    const file = join(workDir(), "hss.sarif");
    writeFileSync(file, "old");
    const run = await gate(file);
    expect(run.code).toBe(1);
    expect(JSON.parse(readFileSync(file, "utf8"))).toMatchObject({ version: "2.1.0" });
  }, 30_000);
});

describe("the gate's verdict", () => {
  let emulator: HssEmulator;
  beforeAll(async () => {
    emulator = await emulatorWith(["flaky-1", "nofix-1", "high-1", "clean-2"], {
      rateLimit: false,
    });
  });
  afterAll(() => emulator.close());

  it("scans again what HSS's scan timed out on, as the function does, and passes", async () => {
    // Sync, scan, timeout, scan again: five looks, more than HSS's minute allows; a short window.
    const run = await scan(emulator, [ref("flaky-1"), "--wait", "--fail-on", "high"], {
      HSS_RATE_WINDOW_SECONDS: "3",
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/team\/api:flaky-1 \(instance inst-ci\)\s+scanned/);
  }, 30_000);

  it("takes severities in any case, critical being HSS's High", async () => {
    const [upper, critical] = await Promise.all([
      scan(emulator, [ref("high-1"), "--wait", "--fail-on", "HIGH"]),
      scan(emulator, [ref("high-1"), "--wait", "--fail-on", "critical"]),
    ]);
    expect([upper.code, critical.code]).toEqual([1, 1]);
  }, 30_000);

  it("with --only-fixed, lets findings HSS knows no fix for pass", async () => {
    const [strict, onlyFixed] = await Promise.all([
      scan(emulator, [ref("nofix-1"), "--wait", "--fail-on", "high"]),
      scan(emulator, [ref("nofix-1"), "--wait", "--fail-on", "high", "--only-fixed"]),
    ]);
    expect(strict.code).toBe(1);
    expect(onlyFixed.code).toBe(0);
    expect(onlyFixed.stdout).toMatch(/CVE-2026-01004\s+high\s+glibc/);
  }, 30_000);

  it("accepts what the ignore file accepts, warns of an expired entry, and counts it again", async () => {
    const dir = workDir();
    const accepted = join(dir, "accepted");
    writeFileSync(
      accepted,
      [
        "# reviewed 2026-11-30",
        "CVE-2026-01001 image=team/api:high-* until=2099-01-01 # not reachable in our build",
        "CVE-2026-01002 # fixed in the next base image",
      ].join("\n"),
    );
    const expired = join(dir, "expired");
    writeFileSync(expired, "CVE-2026-01001 until=2020-01-01 # was accepted for a while\n");
    const [passes, fails] = await Promise.all([
      scan(emulator, [ref("high-1"), "--wait", "--fail-on", "medium", "--ignore-file", accepted]),
      scan(emulator, [ref("high-1"), "--wait", "--fail-on", "high", "--ignore-file", expired]),
    ]);
    expect(passes.code).toBe(0);
    expect(passes.stdout).toMatch(/CVE-2026-01001\s+high\s+openssl.*not reachable in our build/);
    expect(fails.code).toBe(1);
    expect(fails.stderr).toMatch(
      /the ignore entry for CVE-2026-01001 \(line 1\) expired on 2020-01-01/,
    );
  }, 30_000);

  it("refuses an ignore file entry without a reason, naming the line", async () => {
    const file = join(workDir(), ".hssignore");
    writeFileSync(file, "CVE-2026-01001\n");
    const run = await scan(emulator, [ref("high-1"), "--ignore-file", file]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/\.hssignore:1: CVE-2026-01001 needs a reason after "#"/);
  });

  it("writes SARIF 2.1.0 that validates against its schema, and the table to stdout", async () => {
    const out = join(workDir(), "hss.sarif");
    const run = await scan(emulator, [
      ref("high-1"),
      ref("clean-2"),
      "--wait",
      "--fail-on",
      "high",
      "--format",
      "sarif",
      "--output",
      out,
    ]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/team\/api:high-1 \(instance inst-ci\)\s+scanned\s+3\s+High/);
    const sarif = JSON.parse(readFileSync(out, "utf8"));
    expectValidSarif(sarif);
    const [only] = sarif.runs;
    expect(only.tool.driver.rules.map((rule: { id: string }) => rule.id).sort()).toEqual([
      "CVE-2026-01001",
      "CVE-2026-01002",
      "CVE-2026-01003",
    ]);
    expect(only.results).toContainEqual(
      expect.objectContaining({
        ruleId: "CVE-2026-01001",
        level: "error",
        locations: [
          expect.objectContaining({
            physicalLocation: expect.objectContaining({ artifactLocation: { uri: ref("high-1") } }),
          }),
        ],
      }),
    );
  }, 30_000);
});

/** Validates against the SARIF 2.1.0 JSON schema (as published with @microsoft/jest-sarif). */
function expectValidSarif(document: unknown) {
  const require = createRequire(__filename);
  const schema = require("@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json");
  // The schema's `language` pattern has a stray "]", valid only outside unicode mode.
  const ajv = new Ajv({ strict: false, allErrors: true, unicodeRegExp: false });
  addFormats(ajv);
  const validate = ajv.compile(schema);
  const valid = validate(document);
  expect(validate.errors ?? []).toEqual([]);
  expect(valid).toBe(true);
}

describe("a command that explains itself", () => {
  it.each([["--help"], ["-h"]])(
    "answers %s with options, variables and exit statuses",
    async (flag) => {
      const run = await runLocalTool("cli/scan.ts", [flag], { PATH: process.env.PATH });
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^usage: swr-scan-on-push scan/m);
      expect(run.stdout).toMatch(/--format <format>/);
      expect(run.stdout).toMatch(/CLOUD_SDK_AK, CLOUD_SDK_SK/);
      expect(run.stdout).toMatch(/^ {2}4 +HSS refused the credentials/m);
    },
  );

  it("answers --version", async () => {
    const run = await runLocalTool("cli/scan.ts", ["--version"], { PATH: process.env.PATH });
    const { version } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(`swr-scan-on-push ${version}`);
  });
});

describe("Ctrl-C", () => {
  it("prints what is known and exits 130", async () => {
    const emulator = await emulatorWith([]);
    try {
      const child = spawn(
        join(ROOT, "node_modules", ".bin", "tsx"),
        ["src/cli/scan.ts", ref("ghost-1"), "--wait", "--format", "json"],
        { cwd: ROOT, env: envFor(emulator) },
      );
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString();
      });
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const until = Date.now() + 15_000;
      while (emulator.received.length === 0 && Date.now() < until) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      // tsx runs the command in a child process and passes the signal on.
      child.kill("SIGINT");
      const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
      expect(code).toBe(130);
      expect(stderr).toMatch(/interrupted: printing what is known/);
      expect(JSON.parse(stdout)).toMatchObject({
        exit_code: 130,
        images: [{ reference: ref("ghost-1"), status: "not_synced" }],
      });
    } finally {
      await emulator.close();
    }
  }, 30_000);
});
