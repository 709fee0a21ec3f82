import { defineConfig } from "vitest/config";

/**
 * Two parts, each mirroring src/ (and deploy/): `unit` runs in the test process alone, pure
 * functions and in-process fakes with injected clocks, no server of any kind, and takes seconds
 * (`npm run test:unit`); `integration` starts real things (the HSS, SWR and chat emulators over
 * loopback HTTP, tsx and osls processes, redis-server, builds of the bundle) and waits in real
 * time. `npm test` runs both.
 */
export default defineConfig({
  test: {
    testTimeout: 20_000,
    // The integration files mostly wait: on loopback servers, processes and real time. Four at
    // once on two cores take npm test from about 6½ minutes to about 3 (docs/development.md).
    maxWorkers: 4,
    // Tests only talk to loopback servers they start themselves.
    environment: "node",
    projects: [
      // Pure and in-process: the files share one module graph (no isolation), which is what keeps
      // the part a change is checked with first to a few seconds.
      {
        extends: true,
        test: { name: "unit", include: ["test/unit/**/*.test.ts"], isolate: false },
      },
      { extends: true, test: { name: "integration", include: ["test/integration/**/*.test.ts"] } },
    ],
  },
});
