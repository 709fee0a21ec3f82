import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../../src/config";
import { QUEUE_BACKENDS, queueBackendNameOf, queueBackendOf } from "../../../src/queue/backends";
import { configurationProblems } from "../../../src/runners/local-environment";

/** The registry SCAN_QUEUE is read through: which backend takes a value, and what is wrong with one. */

describe("the queue backends' registry", () => {
  it("names the backend each value takes, none in direct mode", () => {
    expect(queueBackendNameOf("")).toBe("none");
    expect(queueBackendNameOf("memory")).toBe("memory");
    expect(queueBackendNameOf("redis://localhost:6379/0")).toBe("redis");
    expect(queueBackendNameOf("rediss://:pw@cache.internal:6380")).toBe("redis");
    expect(queueBackendNameOf("mongodb://x")).toBe("unknown");
  });

  it("refuses a value no backend takes, listing every backend's form", () => {
    const error = (() => {
      try {
        queueBackendOf("mongodb://db:27017");
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    for (const { form } of QUEUE_BACKENDS) expect((error as Error).message).toContain(form);
  });

  it("refuses a malformed value of a backend, saying what it takes", () => {
    expect(() => queueBackendOf("redis://cache:6379/not-a-db")).toThrow(
      /SCAN_QUEUE: use redis:\/\/\[user:password@\]host:port\[\/db\]/,
    );
    expect(() => queueBackendOf("redis://")).toThrow(/SCAN_QUEUE/);
  });

  it("says which backends other processes reach", () => {
    const shared = Object.fromEntries(QUEUE_BACKENDS.map((b) => [b.name, b.shared]));
    expect(shared).toEqual({ memory: false, redis: true });
  });

  it("lets npm start and invoke refuse a SCAN_QUEUE no backend takes before anything starts", () => {
    const problems = configurationProblems({
      HSS_REGION: "cn-north-4",
      SCAN_QUEUE: "mongodb://db",
    });
    expect(problems).toEqual([
      expect.stringMatching(/^SCAN_QUEUE: must be none, memory, or redis/),
    ]);
    expect(
      configurationProblems({ HSS_REGION: "cn-north-4", SCAN_QUEUE: "memory" }),
    ).toBeUndefined();
  });

  it("keeps a queue URL's password secret in the configuration, whatever the backend", () => {
    const config = loadConfig({
      HSS_REGION: "cn-north-4",
      SCAN_QUEUE: "redis://:p%40ss@cache:6379",
    });
    expect(config.queue.url).toBe("redis://:p%40ss@cache:6379");
    expect(config.queue.secrets).toEqual(expect.arrayContaining(["p@ss", "p%40ss"]));
    expect(() => loadConfig({ HSS_REGION: "cn-north-4", SCAN_QUEUE: "Not a value" })).toThrow(
      /SCAN_QUEUE/,
    );
  });
});
