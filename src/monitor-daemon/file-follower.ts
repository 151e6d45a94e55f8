/**
 * Follows a file that rsyslog appends to (an `omfile` action), line by line, like `tail -F`: it waits
 * for the file to appear, notices rotation (a new inode at the path: the old file is read to its end
 * first) and truncation (reads again from the start), and wakes on inotify with a polling fallback.
 * Memory is bounded by one read buffer and one line of at most `maxLineBytes`.
 */
import { type FSWatcher, watch } from "node:fs";
import { type FileHandle, open, stat } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { LineSplitter } from "../util/line-splitter.js";

export interface FileFollowerOptions {
  /** `end` (default) skips what the file already holds; `start` reads it all. */
  from?: "start" | "end";
  /** Polling period, the fallback when inotify says nothing (and the rotation check); default 500 ms. */
  pollMs?: number;
  /** Longest line; longer ones are dropped and counted. Default 16 KiB. */
  maxLineBytes?: number;
  /** Bytes read per system call; default 256 KiB. */
  chunkBytes?: number;
}

export interface FollowerStats {
  path: string;
  bytesRead: number;
  lines: number;
  oversized: number;
  rotations: number;
  truncations: number;
  /** Bytes in the file not read yet at the last check: how far behind the follower is. */
  lagBytes: number;
  open: boolean;
}

export class FileFollower {
  readonly path: string;
  readonly #onLine: (line: Buffer) => void;
  readonly #pollMs: number;
  readonly #buf: Buffer;
  readonly #from: "start" | "end";
  readonly #maxLineBytes: number;
  #splitter: LineSplitter;
  #fh: FileHandle | null = null;
  #ino = -1;
  #pos = 0;
  #first = true;
  #reading: Promise<void> | null = null;
  #again = false;
  /** Look at the path again (rotation, truncation) rather than only reading on. */
  #recheck = true;
  #timer: NodeJS.Timeout | null = null;
  #watcher: FSWatcher | null = null;
  #closed = false;
  readonly #stats: FollowerStats;

  constructor(path: string, onLine: (line: Buffer) => void, opts: FileFollowerOptions = {}) {
    this.path = path;
    this.#onLine = onLine;
    this.#from = opts.from ?? "end";
    this.#pollMs = opts.pollMs ?? 500;
    this.#maxLineBytes = opts.maxLineBytes ?? 16 * 1024;
    this.#splitter = new LineSplitter(this.#maxLineBytes);
    this.#buf = Buffer.allocUnsafe(opts.chunkBytes ?? 256 * 1024);
    this.#stats = {
      path,
      bytesRead: 0,
      lines: 0,
      oversized: 0,
      rotations: 0,
      truncations: 0,
      lagBytes: 0,
      open: false,
    };
  }

  /** Start following; resolves after the first check (the file may not exist yet). */
  async start(): Promise<void> {
    try {
      // The directory, not the file: a rotated file is replaced by a new inode under the same name.
      this.#watcher = watch(dirname(this.path), (event, name) => {
        if (name !== null && name !== basename(this.path)) return;
        // An append is a "change": read on. Creation, rotation or removal is a "rename": look again.
        if (event === "rename") this.#recheck = true;
        void this.poke();
      });
      this.#watcher.on("error", () => {});
    } catch {
      // No inotify (or the directory is missing): polling alone still works.
    }
    this.#timer = setInterval(() => {
      this.#recheck = true;
      void this.poke();
    }, this.#pollMs);
    await this.poke();
  }

  /** Read whatever is new now; concurrent calls coalesce. */
  poke(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#reading) {
      this.#again = true;
      return this.#reading;
    }
    this.#reading = (async () => {
      do {
        this.#again = false;
        await this.#check().catch(() => this.#reset());
      } while (this.#again && !this.#closed);
    })().finally(() => {
      this.#reading = null;
    });
    return this.#reading;
  }

  stats(): FollowerStats {
    return {
      ...this.#stats,
      oversized: this.#splitter.oversized + this.#stats.oversized,
      open: this.#fh !== null,
    };
  }

  /** Stop following. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#watcher?.close();
    await this.#reading;
    await this.#fh?.close();
    this.#fh = null;
  }

  async #reset(): Promise<void> {
    await this.#fh?.close().catch(() => {});
    this.#fh = null;
    this.#ino = -1;
  }

  async #check(): Promise<void> {
    if (this.#fh && !this.#recheck) {
      // The common case, an append: one fstat and the reads up to the size it gave.
      const size = (await this.#fh.stat()).size;
      if (size >= this.#pos) {
        await this.#drain(size);
        return;
      }
    }
    this.#recheck = false;
    const onDisk = await stat(this.path).catch(() => null);
    if (this.#fh) {
      if (onDisk && onDisk.ino !== this.#ino) {
        // Rotated: finish the old file, then start the new one from its beginning.
        await this.#drain(Number.POSITIVE_INFINITY);
        await this.#reset();
        this.#stats.rotations++;
      } else if ((await this.#fh.stat()).size < this.#pos) {
        this.#stats.truncations++;
        this.#pos = 0;
        this.#newSplitter();
      }
    }
    if (!this.#fh) {
      if (!onDisk) return;
      this.#fh = await open(this.path, "r");
      const st = await this.#fh.stat();
      this.#ino = st.ino;
      this.#pos = this.#first && this.#from === "end" ? st.size : 0;
      this.#first = false;
      this.#newSplitter();
    }
    await this.#drain((await this.#fh.stat()).size);
  }

  #newSplitter(): void {
    this.#stats.oversized += this.#splitter.oversized;
    this.#splitter = new LineSplitter(this.#maxLineBytes);
  }

  /** Read from the position up to `size` (or to the end of the file when it is not known). */
  async #drain(size: number): Promise<void> {
    const fh = this.#fh;
    if (!fh) return;
    while (this.#pos < size && !this.#closed) {
      const want = Math.min(this.#buf.length, size - this.#pos);
      const { bytesRead } = await fh.read(this.#buf, 0, want, this.#pos);
      if (bytesRead === 0) break;
      this.#pos += bytesRead;
      this.#stats.bytesRead += bytesRead;
      this.#splitter.push(this.#buf.subarray(0, bytesRead), (line) => {
        this.#stats.lines++;
        this.#onLine(line);
      });
    }
    // Known only at the end of a read: what was appended while this one ran is still to read.
    if (Number.isFinite(size)) this.#stats.lagBytes = Math.max(0, size - this.#pos);
  }
}
