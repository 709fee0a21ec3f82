import { describe, expect, it } from "vitest";
import { pairedRatio, quantile } from "../../../scripts/support/statistics";

describe("the bench's statistics", () => {
  it("takes quantiles by nearest rank, whatever the order of the values", () => {
    expect(quantile([5, 1, 3, 2, 4], 0.5)).toBe(3);
    expect(quantile([5, 1, 3, 2, 4], 0)).toBe(1);
    expect(quantile([5, 1, 3, 2, 4], 1)).toBe(5);
    expect(quantile([10, 20, 30, 40], 0.9)).toBe(40);
  });

  it("pairs the rounds: the ratio of each round, not the ratio of the medians", () => {
    // A slow round slows both series; paired, it does not move the ratio.
    const floor = [30, 31, 60, 32, 30];
    const cold = [36, 37.2, 72, 38.4, 36];
    const { median, low, high } = pairedRatio(cold, floor);
    expect(median).toBeCloseTo(1.2, 10);
    expect(low).toBeCloseTo(1.2, 10);
    expect(high).toBeCloseTo(1.2, 10);
  });

  it("gives an interval that holds the median and widens with the spread", () => {
    const floor = Array.from({ length: 40 }, () => 40);
    const tight = floor.map((_, k) => 48 + (k % 2 === 0 ? 0.2 : -0.2));
    const loose = floor.map((_, k) => 48 + ((k * 7) % 11) - 5);
    const narrow = pairedRatio(tight, floor);
    const wide = pairedRatio(loose, floor);
    for (const { median, low, high } of [narrow, wide]) {
      expect(low).toBeLessThanOrEqual(median);
      expect(high).toBeGreaterThanOrEqual(median);
    }
    expect(wide.high - wide.low).toBeGreaterThan(narrow.high - narrow.low);
  });

  it("gives the same interval for the same samples and seed", () => {
    const floor = [30, 35, 31, 40, 33, 29, 36, 38];
    const cold = [37, 41, 38, 50, 39, 36, 45, 44];
    expect(pairedRatio(cold, floor)).toEqual(pairedRatio(cold, floor));
    expect(pairedRatio(cold, floor, 7)).toEqual(pairedRatio(cold, floor, 7));
  });

  it("refuses series that cannot be paired", () => {
    expect(() => pairedRatio([1, 2], [1])).toThrow(/same, non-zero length \(2 and 1\)/);
    expect(() => pairedRatio([], [])).toThrow(/non-zero length/);
  });
});
