import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A real redis-server (Debian's package, which .ci/run installs) on a free loopback port, in a
 * temporary directory: by default with the append-only file on (fsync on every write) so that a
 * restart keeps what was written; or with no persistence at all, as DCS's single-node instances
 * run; and optionally with TLS only, on a certificate the test made.
 */
export interface RedisServer {
  url: string;
  port: number;
  /** Stops it (SIGTERM: Redis writes its AOF and exits) and starts it again on the same port. */
  restart(): Promise<void>;
  /** Kills it (SIGKILL: a crash, nothing written on the way out) and starts it again. */
  crash(): Promise<void>;
  /** Freezes it (SIGSTOP): connections stay open, commands are read and not answered. */
  pause(): void;
  /** Thaws it (SIGCONT): it runs what it read meanwhile. */
  resume(): void;
  stop(): Promise<void>;
  /** Stops it for good and removes its directory. */
  close(): Promise<void>;
}

export interface RedisOptions {
  /** `aof` (default): append-only file, fsync always; `none`: neither AOF nor RDB. */
  persistence?: "aof" | "none";
  /** Serve TLS only (rediss://) with this certificate and key (PEM). */
  tls?: { cert: string; key: string };
}

export const REDIS_SERVER = process.env.REDIS_SERVER ?? "redis-server";

/** Whether this machine has redis-server (the build and the bench use one when it does). */
export const redisServerInstalled = (): boolean =>
  spawnSync(REDIS_SERVER, ["--version"]).status === 0;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), "redis-"));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const persistence =
    options.persistence === "none"
      ? ["--appendonly", "no"]
      : ["--appendonly", "yes", "--appendfsync", "always"];
  if (options.tls) {
    writeFileSync(join(dir, "server.crt"), options.tls.cert);
    writeFileSync(join(dir, "server.key"), options.tls.key);
  }
  const listen = options.tls
    ? [
        "--port",
        "0",
        "--tls-port",
        String(port),
        "--tls-cert-file",
        join(dir, "server.crt"),
        "--tls-key-file",
        join(dir, "server.key"),
        "--tls-auth-clients",
        "no",
      ]
    : ["--port", String(port)];

  const start = () =>
    new Promise<void>((resolve, reject) => {
      const proc = spawn(
        REDIS_SERVER,
        [
          ...listen,
          "--bind",
          "127.0.0.1",
          "--dir",
          dir,
          "--save",
          "",
          ...persistence,
          "--protected-mode",
          "no",
        ],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      child = proc;
      let output = "";
      const timer = setTimeout(() => {
        proc.kill("SIGKILL");
        reject(new Error(`redis-server did not start within 10 s: ${output.slice(-500)}`));
      }, 10_000);
      proc.stdout?.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes("Ready to accept connections")) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once("error", (error) => {
        clearTimeout(timer);
        reject(
          new Error(
            `cannot start ${REDIS_SERVER} (${error.message}); install it: apt-get install -y redis-server`,
          ),
        );
      });
      proc.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}: ${output.slice(-500)}`));
      });
    });

  const stop = () =>
    new Promise<void>((resolve) => {
      const proc = child;
      if (!proc || proc.exitCode !== null) return resolve();
      proc.removeAllListeners("exit");
      proc.once("exit", () => resolve());
      // A frozen server would hold SIGTERM until thawed.
      proc.kill("SIGCONT");
      proc.kill("SIGTERM");
    });

  const signal = (name: NodeJS.Signals) => {
    if (child?.pid !== undefined && child.exitCode === null) process.kill(child.pid, name);
  };

  await start();
  return {
    url: `${options.tls ? "rediss" : "redis"}://127.0.0.1:${port}`,
    port,
    restart: async () => {
      await stop();
      await start();
    },
    crash: async () => {
      const proc = child;
      if (proc && proc.exitCode === null) {
        proc.removeAllListeners("exit");
        await new Promise<void>((resolve) => {
          proc.once("exit", () => resolve());
          proc.kill("SIGKILL");
        });
      }
      await start();
    },
    pause: () => signal("SIGSTOP"),
    resume: () => signal("SIGCONT"),
    stop,
    close: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
