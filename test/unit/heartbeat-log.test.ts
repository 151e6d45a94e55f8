import { describe, expect, it } from "vitest";
import { heartbeatTiming, maxHeartbeatGap } from "../../src/monitor/heartbeat-log.js";

const every250 = (from: number, to: number) => {
  const out: number[] = [];
  for (let t = from; t <= to; t += 250) out.push(t);
  return out;
};

describe("maxHeartbeatGap", () => {
  it("is the interval for a steady heartbeat", () => {
    expect(maxHeartbeatGap(every250(0, 5000), 1000, 4000)).toBe(250);
  });
  it("counts a silence running into the end of the window", () => {
    expect(maxHeartbeatGap(every250(0, 2000), 1000, 4000)).toBe(2000);
  });
  it("measures the gap spanning the window's start from the last heartbeat before it", () => {
    expect(maxHeartbeatGap([0, 1500, 1750], 1000, 1750)).toBe(1500);
  });
  it("is null when nothing was heard at or before the window's end", () => {
    expect(maxHeartbeatGap([5000], 0, 4000)).toBeNull();
    expect(maxHeartbeatGap([], 0, 4000)).toBeNull();
  });
});

describe("heartbeatTiming", () => {
  it("steady before and during → not degraded", () => {
    const t = heartbeatTiming(every250(0, 6000), 250, [0, 2000], [2000, 6000]);
    expect(t).toMatchObject({ baselineMaxGapMs: 250, faultMaxGapMs: 250, thresholdMs: 750, degraded: false });
    expect(t.beatsDuringFault).toBe(16);
  });
  it("a 1.5 s hole during the fault → degraded", () => {
    const arrivals = [...every250(0, 3000), ...every250(4500, 6000)];
    const t = heartbeatTiming(arrivals, 250, [0, 2000], [2000, 6000]);
    expect(t.faultMaxGapMs).toBe(1500);
    expect(t.degraded).toBe(true);
  });
  it("a gap no worse than twice an already irregular baseline → not degraded", () => {
    const arrivals = [0, 600, 1200, 1800, 2400, 3000, 4000, 4500];
    const t = heartbeatTiming(arrivals, 250, [0, 2400], [2400, 4500]);
    expect(t.thresholdMs).toBe(1200);
    expect(t.degraded).toBe(false);
  });
  it("nothing heard at all → cannot tell", () => {
    expect(heartbeatTiming([], 250, [0, 2000], [2000, 6000]).degraded).toBeNull();
  });
});
