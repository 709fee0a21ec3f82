import { describe, expect, it } from "vitest";
import { RecentSubmissions } from "../src/recent-submissions";

describe("RecentSubmissions", () => {
  const clock = () => {
    let now = 1_000_000;
    return { now: () => now, advance: (ms: number) => (now += ms) };
  };

  it("remembers a submission for the window and forgets it after", () => {
    const time = clock();
    const recent = new RecentSubmissions(60_000, 100, time.now);
    recent.remember("a");
    time.advance(59_999);
    expect(recent.submittedWithinWindow("a")).toBe(1_000_000);
    time.advance(1);
    expect(recent.submittedWithinWindow("a")).toBeUndefined();
  });

  it("keeps at most maxEntries, dropping the oldest first", () => {
    const time = clock();
    const recent = new RecentSubmissions(60_000, 2, time.now);
    for (const key of ["a", "b", "c"]) {
      recent.remember(key);
      time.advance(1);
    }
    expect(recent.size).toBe(2);
    expect(recent.submittedWithinWindow("a")).toBeUndefined();
    expect(recent.submittedWithinWindow("c")).toBeDefined();
  });

  it("remembers nothing with a zero window", () => {
    const recent = new RecentSubmissions(0, 10);
    recent.remember("a");
    expect(recent.submittedWithinWindow("a")).toBeUndefined();
    expect(recent.size).toBe(0);
  });
});
