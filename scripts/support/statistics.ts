/** The q-quantile of the values (the nearest rank; q = 0.5 is the median). */
export const quantile = (values: readonly number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1) + 0.5))] as number;
};

/**
 * One series against another measured in the same rounds: the median of the per-round ratios and
 * its 95% interval by bootstrap (2,000 resamples of the rounds; a fixed seed, so that the same
 * samples give the same interval). On a shared machine the ratio of two medians moves from run
 * to run by more than a change worth measuring; the interval says how far.
 */
export function pairedRatio(
  numerator: readonly number[],
  denominator: readonly number[],
  seed = 1,
): { median: number; low: number; high: number } {
  if (numerator.length === 0 || numerator.length !== denominator.length) {
    throw new Error(
      `paired series must have the same, non-zero length (${numerator.length} and ${denominator.length})`,
    );
  }
  const ratios = numerator.map((value, k) => value / (denominator[k] as number));
  let state = seed >>> 0;
  const random = () => {
    // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const medians = Array.from({ length: 2000 }, () =>
    quantile(
      ratios.map(() => ratios[Math.floor(random() * ratios.length)] as number),
      0.5,
    ),
  );
  return {
    median: quantile(ratios, 0.5),
    low: quantile(medians, 0.025),
    high: quantile(medians, 0.975),
  };
}
