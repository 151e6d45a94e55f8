import { describe, expect, it } from "vitest";
import { type LabelBox, separateLabels } from "../../src/report/label-layout.js";

const box = (x: number, y: number, width = 60, height = 10): LabelBox => ({ x, y, width, height });

function overlapping(boxes: LabelBox[], shifts: number[]): [number, number][] {
  const moved = boxes.map((b, i) => ({ ...b, y: b.y + (shifts[i] ?? 0) }));
  const pairs: [number, number][] = [];
  moved.forEach((a, i) => {
    moved.slice(i + 1).forEach((b, k) => {
      if (a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height) {
        pairs.push([i, i + 1 + k]);
      }
    });
  });
  return pairs;
}

describe("continuum label layout", () => {
  it("leaves labels that do not touch where they are", () => {
    expect(separateLabels([box(0, 0), box(100, 0), box(0, 50)], 0, 300)).toEqual([0, 0, 0]);
  });

  it("turns labels at one height into a list below the first, in x order", () => {
    const boxes = [box(12, 20), box(10, 20), box(14, 20), box(11, 20)];
    const shifts = separateLabels(boxes, 0, 300);
    expect(overlapping(boxes, shifts)).toEqual([]);
    expect(shifts).toEqual([24, 0, 36, 12]);
  });

  it("goes up at the bottom of the plot instead of leaving it", () => {
    const boxes = [box(0, 285), box(5, 285)];
    const shifts = separateLabels(boxes, 0, 300);
    expect(overlapping(boxes, shifts)).toEqual([]);
    expect(shifts).toEqual([0, -12]);
  });

  it("never overlaps, whatever the crowd", () => {
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let round = 0; round < 50; round++) {
      const boxes = Array.from({ length: 2 + Math.floor(rand() * 12) }, () =>
        box(Math.floor(rand() * 80), Math.floor(rand() * 60), 30 + Math.floor(rand() * 60), 10),
      );
      expect(overlapping(boxes, separateLabels(boxes, 0, 80))).toEqual([]);
    }
  });

  it("is self-contained, as the report's script needs it (it is inlined by its source text)", () => {
    const standalone = new Function(`return (${separateLabels.toString()});`)() as typeof separateLabels;
    expect(standalone([box(0, 0), box(0, 0)], 0, 100)).toEqual([0, 12]);
  });
});
