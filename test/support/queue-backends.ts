import { useRedis } from "./use-redis";

/**
 * How the tests reach each backend of the registry (src/queue/backends.ts): called at the top of
 * a describe block, it starts what the backend needs for that block and gives the SCAN_QUEUE value
 * that names it, emptied before each test. A backend without an entry here fails
 * test/integration/queue/contracts.test.ts.
 */
export const QUEUE_FIXTURES: Record<string, () => () => string> = {
  memory: () => () => "memory",
  redis: () => {
    const redis = useRedis();
    return () => redis().url;
  },
};
