/**
 * The benchmark set the agent runs (src/guest/agent/bench.c, which documents each one). Every value is a
 * cost of one fixed operation, lower is better, so a backend's slowdown is value(backend) / value(native).
 */

/** Benchmark names in the order a block runs them; bench.c knows the same names. */
export const BENCHMARKS = [
  "cpu-int",
  "cpu-fp",
  "mem-copy",
  "mem-triad",
  "mem-latency",
  "syscall",
  "fork-exec",
  "file-io",
  "timer",
] as const;
export type BenchmarkName = (typeof BENCHMARKS)[number];

/** How long each repetition runs (ms) and how large the memory benchmarks' buffers are (MiB). */
export interface BenchParams {
  ms: number;
  mb: number;
}

/** 200 ms per repetition; 32 MiB buffers (STREAM's three arrays make 96 MiB in a 256 MiB guest). */
export const DEFAULT_BENCH_PARAMS: BenchParams = { ms: 200, mb: 32 };

/** The agent command running `reps` repetitions of `name`. */
export function benchCommand(name: BenchmarkName, reps: number, p: BenchParams): string {
  return `BENCH ${name} reps=${reps} ms=${p.ms} mb=${p.mb}`;
}

/** statfs magic numbers of the file systems a `file-io` run may land on (its `fs=` field). */
const FS_MAGIC: Readonly<Record<string, string>> = {
  "0x1021994": "tmpfs",
  "0x858458f6": "ramfs",
  "0xef53": "ext4",
  "0x9123683e": "btrfs",
  "0x58465342": "xfs",
  "0x794c7630": "overlayfs",
  "0x62656572": "sysfs",
  "0x1cd1": "devpts",
};

/** A readable name for a statfs magic as bench.c prints it (`0xef53` → `ext4`); unknown ones unchanged. */
export function fsName(magic: string): string {
  return FS_MAGIC[magic.toLowerCase()] ?? magic;
}
