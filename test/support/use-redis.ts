import { afterAll, beforeAll, beforeEach } from "vitest";
import { type RedisOptions, type RedisServer, startRedis } from "./redis-server";

/**
 * A real redis-server for the tests of one file: started before them, stopped after, emptied
 * before each. Call at the top of a file or describe block; the getter gives the running server.
 */
export function useRedis(options: RedisOptions = {}): () => RedisServer {
  let redis: RedisServer | undefined;
  beforeAll(async () => {
    redis = await startRedis(options);
  });
  afterAll(() => redis?.close());
  beforeEach(async () => {
    const { default: Redis } = await import("ioredis");
    const admin = new Redis((redis as RedisServer).url);
    await admin.flushdb();
    await admin.quit();
  });
  return () => {
    if (!redis) throw new Error("redis-server is not started yet (use it inside a test)");
    return redis;
  };
}
