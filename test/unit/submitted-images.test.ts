import { describe, expect, it } from "vitest";
import { SubmittedImages } from "../../src/submitted-images";

describe("SubmittedImages", () => {
  const clock = () => {
    let now = 1_000_000;
    return { now: () => now, advance: (ms: number) => (now += ms) };
  };

  it("remembers an accepted push for the window and forgets it after", () => {
    const time = clock();
    const memory = new SubmittedImages(60_000, 100, time.now);
    memory.confirm(["a"]);
    time.advance(59_999);
    expect(memory.acceptedAt("a")).toBe(1_000_000);
    expect(memory.reserve(["a"])).toEqual([
      { key: "a", status: "submitted_recently", submittedAt: 1_000_000 },
    ]);
    time.advance(1);
    expect(memory.acceptedAt("a")).toBeUndefined();
    expect(memory.reserve(["a"])).toEqual([{ key: "a", status: "reserved" }]);
  });

  it("lets one of two concurrent deliveries send a push, and the other again once it failed", () => {
    const memory = new SubmittedImages(60_000, 100);
    expect(memory.reserve(["a"])[0]?.status).toBe("reserved");
    expect(memory.reserve(["a"])[0]?.status).toBe("in_flight");
    memory.cancel(["a"]);
    expect(memory.reserve(["a"])[0]?.status).toBe("reserved");
  });

  it("keeps at most maxEntries, dropping the oldest first", () => {
    const time = clock();
    const memory = new SubmittedImages(60_000, 2, time.now);
    for (const key of ["a", "b", "c"]) {
      memory.confirm([key]);
      time.advance(1);
    }
    expect(memory.size).toBe(2);
    expect(memory.acceptedAt("a")).toBeUndefined();
    expect(memory.acceptedAt("c")).toBeDefined();
  });

  it("remembers nothing with a zero window", () => {
    const memory = new SubmittedImages(0, 10);
    memory.confirm(["a"]);
    expect(memory.acceptedAt("a")).toBeUndefined();
    expect(memory.size).toBe(0);
  });
});
