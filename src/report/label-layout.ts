/**
 * Where the continuum plot's labels go so that none covers another: backends often sit at the same
 * height (every one contained 5/5) and close on the overhead axis, and Plot draws every label right of
 * its dot. Pure geometry, run in the reader's browser on the measured boxes of the rendered labels.
 */

/** A label's box in the plot's own units, top-left corner first. */
export interface LabelBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * The vertical shift of each label (same order as `boxes`) after which no two boxes overlap. Labels are
 * placed one by one from the top; each keeps its place when it is free, else moves to the nearest free
 * place just below a label already placed; above only when nothing below is inside [`top`, `bottom`]
 * (a crowd at the bottom of the plot), and outside those bounds only when nothing inside is free.
 *
 * It runs in the browser through `Function.prototype.toString` (html-client.ts): it must not refer to
 * anything outside its own body.
 */
export function separateLabels(boxes: LabelBox[], top: number, bottom: number, gap = 2): number[] {
  const overlaps = (a: LabelBox, b: LabelBox) =>
    a.x < b.x + b.width + gap &&
    b.x < a.x + a.width + gap &&
    a.y < b.y + b.height + gap &&
    b.y < a.y + a.height + gap;
  const order = boxes.map((box, i) => ({ box, i })).sort((a, b) => a.box.y - b.box.y || a.box.x - b.box.x);
  const placed: LabelBox[] = [];
  const shifts = boxes.map(() => 0);
  for (const { box, i } of order) {
    const candidates = [0];
    for (const p of placed) {
      candidates.push(p.y + p.height + gap - box.y, p.y - gap - box.height - box.y);
    }
    // Below every placed label is always free: the search cannot fail.
    candidates.push(Math.max(box.y, ...placed.map((p) => p.y + p.height + gap)) - box.y);
    const free = candidates.filter((dy) => !placed.some((p) => overlaps({ ...box, y: box.y + dy }, p)));
    const inside = free.filter((dy) => box.y + dy >= top && box.y + dy + box.height <= bottom);
    // Down first, so a crowd at one height reads as a list in x order under its first label.
    const down = inside.filter((d) => d >= 0);
    const pool = down.length ? down : inside.length ? inside : free;
    const dy = pool.reduce((best, d) => (Math.abs(d) < Math.abs(best) ? d : best));
    shifts[i] = dy;
    placed.push({ ...box, y: box.y + dy });
  }
  return shifts;
}
