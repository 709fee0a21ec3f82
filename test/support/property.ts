/**
 * Every property test's settings: a fixed seed, so that each run draws the same inputs and a
 * failure is the same failure again; `PROPERTY_SEED=<n> npm test` draws others. fast-check's
 * failure message names the seed and the path of the counterexample, to replay it.
 */
export const PROPERTY_SEED = Number(process.env.PROPERTY_SEED ?? 20261204);

export function seeded(numRuns?: number): { seed: number; numRuns?: number } {
  return { seed: PROPERTY_SEED, ...(numRuns !== undefined ? { numRuns } : {}) };
}
