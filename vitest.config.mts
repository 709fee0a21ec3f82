import { defineConfig } from "vitest/config";

/**
 * Two parts, each mirroring src/ (and deploy/): `unit` runs in the test process alone (functions,
 * the handler with in-process fakes or an in-process loopback emulator) and takes seconds
 * (`npm run test:unit`); `integration` starts real things (tsx and osls processes, redis-server,
 * builds of the bundle) and waits in real time. `npm test` runs both.
 */
export default defineConfig({
  test: {
    testTimeout: 20_000,
    // Tests only talk to loopback servers they start themselves.
    environment: "node",
    projects: [
      { extends: true, test: { name: "unit", include: ["test/unit/**/*.test.ts"] } },
      { extends: true, test: { name: "integration", include: ["test/integration/**/*.test.ts"] } },
    ],
  },
});
