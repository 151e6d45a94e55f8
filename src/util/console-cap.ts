/**
 * A console kept within a cap: the first half of the cap, an elision marker, the last half. Guests can
 * print without end (a flood, a loop of oopses); the start shows the boot and the fault, the end shows how
 * it finished. Fed in chunks as they arrive, or all at once with `capBuffer`.
 */
export class HeadTailBuffer {
  private readonly head: Buffer[] = [];
  private headBytes = 0;
  private readonly tail: Buffer[] = [];
  private tailBytes = 0;
  private totalBytes = 0;

  /** `capBytes`: head and tail together keep at most this many bytes (plus the marker). */
  constructor(private readonly capBytes: number) {
    if (!Number.isInteger(capBytes) || capBytes < 0) {
      throw new RangeError(`console cap: expected a non-negative integer, got ${capBytes}`);
    }
  }

  /** Bytes pushed so far, kept or not. */
  get received(): number {
    return this.totalBytes;
  }

  /** Keep what fits of `data` in the head; the rest goes to the tail, whose oldest chunks fall out. */
  push(data: Buffer): void {
    this.totalBytes += data.length;
    const half = Math.ceil(this.capBytes / 2);
    if (this.headBytes < half) {
      const part = data.subarray(0, half - this.headBytes);
      this.head.push(part);
      this.headBytes += part.length;
      data = data.subarray(part.length);
    }
    if (data.length === 0) return;
    this.tail.push(data);
    this.tailBytes += data.length;
    const tailCap = this.capBytes - half;
    while (this.tailBytes > tailCap) {
      const oldest = this.tail[0] as Buffer;
      const drop = Math.min(oldest.length, this.tailBytes - tailCap);
      if (drop === oldest.length) this.tail.shift();
      else this.tail[0] = oldest.subarray(drop);
      this.tailBytes -= drop;
    }
  }

  /** What was kept: head, `[ezone: N bytes elided]` when anything fell out, tail. */
  contents(): { data: Buffer; truncated: boolean } {
    const elided = this.totalBytes - this.headBytes - this.tailBytes;
    if (elided === 0) return { data: Buffer.concat([...this.head, ...this.tail]), truncated: false };
    const marker = Buffer.from(`\n[ezone: ${elided} bytes elided]\n`);
    return { data: Buffer.concat([...this.head, marker, ...this.tail]), truncated: true };
  }
}

/** `buf` within `capBytes` (head and tail kept around an elision marker). */
export function capBuffer(buf: Buffer, capBytes: number): Buffer {
  const kept = new HeadTailBuffer(capBytes);
  kept.push(buf);
  return kept.contents().data;
}
