/**
 * An append-only file that stops growing at a cap: a long-running enclave's console, which a guest
 * could fill without end. What is cut is counted, and the file says so in its last line.
 */
import { closeSync, openSync, writeSync } from "node:fs";

export class CappedFile {
  readonly #fd: number;
  readonly #cap: number;
  #written = 0;
  #cut = 0;
  #closed = false;

  /** Open (truncating) `path`, keeping at most `capBytes` of what is written. */
  constructor(path: string, capBytes: number) {
    this.#fd = openSync(path, "w", 0o600);
    this.#cap = capBytes;
  }

  /** Append what fits under the cap; count the rest. */
  write(data: Buffer): void {
    if (this.#closed) return;
    const room = Math.max(0, this.#cap - this.#written);
    if (room > 0) {
      const part = data.subarray(0, room);
      writeSync(this.#fd, part);
      this.#written += part.length;
    }
    this.#cut += data.length - Math.min(room, data.length);
  }

  /** Bytes not stored because of the cap. */
  get cut(): number {
    return this.#cut;
  }

  /** Close, noting the bytes cut (if any) on a last line. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#cut > 0)
      writeSync(this.#fd, `\n[ezone: ${this.#cut} more console bytes not stored (cap ${this.#cap})]\n`);
    closeSync(this.#fd);
  }
}
