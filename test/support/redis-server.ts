import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A real redis-server (Debian's package, which .ci/run installs) on a free loopback port, in a
 * temporary directory, with the append-only file on so that a restart keeps what was written.
 */
export interface RedisServer {
  url: string;
  port: number;
  /** Stops it (SIGTERM: Redis writes its AOF and exits) and starts it again on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
  /** Stops it for good and removes its directory. */
  close(): Promise<void>;
}

export const REDIS_SERVER = process.env.REDIS_SERVER ?? "redis-server";

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

export async function startRedis(): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), "redis-"));
  const port = await freePort();
  let child: ChildProcess | undefined;

  const start = () =>
    new Promise<void>((resolve, reject) => {
      const proc = spawn(
        REDIS_SERVER,
        [
          "--port",
          String(port),
          "--bind",
          "127.0.0.1",
          "--dir",
          dir,
          "--save",
          "",
          "--appendonly",
          "yes",
          "--appendfsync",
          "always",
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
      proc.kill("SIGTERM");
    });

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    restart: async () => {
      await stop();
      await start();
    },
    stop,
    close: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
