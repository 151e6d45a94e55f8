/**
 * Splits a byte stream into lines with a hard bound: a line longer than `maxLineBytes` is dropped
 * whole (counted), never buffered, so a guest or a log file without newlines cannot grow memory.
 */
export class LineSplitter {
  readonly #maxLineBytes: number;
  #parts: Buffer[] = [];
  #partBytes = 0;
  /** The current line overflowed: skip to its newline. */
  #skipping = false;
  /** Lines dropped for being longer than the bound. */
  oversized = 0;

  constructor(maxLineBytes: number) {
    if (!Number.isSafeInteger(maxLineBytes) || maxLineBytes < 1)
      throw new RangeError(`LineSplitter: maxLineBytes must be a positive integer, got ${maxLineBytes}`);
    this.#maxLineBytes = maxLineBytes;
  }

  /** Feed bytes; `onLine` gets each complete line without its `\n` (and without a `\r` before it). */
  push(chunk: Buffer, onLine: (line: Buffer) => void): void {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl === -1 ? chunk.length : nl;
      if (!this.#skipping) {
        if (this.#partBytes + (end - start) > this.#maxLineBytes) {
          this.#skipping = true;
          this.#parts = [];
          this.#partBytes = 0;
        } else if (end > start) {
          // A copy: the caller's chunk may be a large buffer that would otherwise stay referenced.
          this.#parts.push(Buffer.from(chunk.subarray(start, end)));
          this.#partBytes += end - start;
        }
      }
      if (nl === -1) break;
      if (this.#skipping) this.oversized++;
      else this.#emit(onLine);
      this.#skipping = false;
      start = nl + 1;
    }
  }

  /** Bytes held for an unfinished line. */
  get bufferedBytes(): number {
    return this.#partBytes;
  }

  #emit(onLine: (line: Buffer) => void): void {
    let line =
      this.#parts.length === 1 ? (this.#parts[0] as Buffer) : Buffer.concat(this.#parts, this.#partBytes);
    this.#parts = [];
    this.#partBytes = 0;
    if (line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
    if (line.length > 0) onLine(line);
  }
}
