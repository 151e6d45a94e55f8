import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type KernelSymbols, kernelSymbolsFromStored, storedKernelSymbols } from "../model/kernel-symbols.js";
import { InfraError } from "../util/errors.js";

/** The file beside a snapshot's files that holds its guest kernel's symbols. */
export const KALLSYMS_FILE = "kallsyms.json";

/** Reads in progress in this process, per snapshot directory: concurrent runs share one. */
const reading = new Map<string, Promise<KernelSymbols>>();

/**
 * The guest kernel symbols of the snapshot in `dir`: stored beside it, or read once with `read` (from a
 * guest restored from it: the snapshot froze its kernel, KASLR offset included, so every restore has the
 * same addresses) and stored there for every later run. A file that is not the stored shape is read again.
 */
export async function symbolsBesideSnapshot(
  dir: string,
  read: () => Promise<KernelSymbols>,
): Promise<KernelSymbols> {
  const file = join(dir, KALLSYMS_FILE);
  const stored = await readStored(file);
  if (stored) return stored;
  let pending = reading.get(dir);
  if (!pending) {
    pending = read().then(async (symbols) => {
      // Written whole, then renamed: a reader never sees half a file.
      const tmp = `${file}.${process.pid}.tmp`;
      try {
        await writeFile(tmp, JSON.stringify(storedKernelSymbols(symbols), null, 2));
        await rename(tmp, file);
      } catch (e) {
        throw new InfraError(
          "flip.kallsyms",
          `cannot store the kernel's symbols in ${file}: ${(e as Error).message}`,
        );
      }
      return symbols;
    });
    reading.set(dir, pending);
    // Once settled the file answers (or, after a failure, the next run reads again).
    pending.then(
      () => reading.delete(dir),
      () => reading.delete(dir),
    );
  }
  return pending;
}

/** The stored symbols in `file`; null when it is missing or not the stored shape. */
async function readStored(file: string): Promise<KernelSymbols | null> {
  try {
    return kernelSymbolsFromStored(JSON.parse(await readFile(file, "utf8")));
  } catch {
    return null;
  }
}
