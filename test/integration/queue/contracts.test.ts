import { beforeEach, describe, expect, it } from "vitest";
import { QUEUE_BACKENDS } from "../../../src/queue/backends";
import type { ScanQueue } from "../../../src/queue/scan-queue";
import { QUEUE_FIXTURES } from "../../support/queue-backends";
import { openBackend, queueContracts } from "../../support/queue-contracts";

/** Every role's contract (test/support/queue-contracts.ts) on every registered backend. */

describe("the backends' registry", () => {
  it("has a test fixture for every backend, so that each runs the contracts", () => {
    const missing = QUEUE_BACKENDS.map(({ name }) => name).filter(
      (name) => !(name in QUEUE_FIXTURES),
    );
    expect(missing).toEqual([]);
  });
});

for (const backend of QUEUE_BACKENDS) {
  const fixture = QUEUE_FIXTURES[backend.name];
  if (!fixture) continue;
  describe(`the ${backend.name} queue`, () => {
    const value = fixture();
    let queue: ScanQueue;
    beforeEach(async () => {
      queue = await openBackend(value());
      expect(queue.backend).toBe(backend.name);
      return () => queue.close();
    });
    queueContracts(
      () => queue,
      () => openBackend(value()),
      backend.shared,
    );
  });
}
