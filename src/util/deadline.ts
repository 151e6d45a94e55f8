/**
 * `AbortSignal.any([parent, AbortSignal.timeout(ms)])` loses its deadline on Node 20 (measured on
 * v20.20.2): the composite holds its sources weakly and the timeout's timer holds its signal weakly, so
 * once nothing else references the timeout signal a garbage collection drops it and the composite never
 * aborts on time. A wait built that way hangs until the parent aborts (seen as a matrix stuck for minutes
 * with a hog still running). Every deadline is built here instead: the timeout signal is held until it
 * fires (or, for a finite wait, at most `ms`), then released.
 */
const pending = new Set<AbortSignal>();

/** A signal that aborts when `parent` does (if given) or after `ms`, whichever comes first. */
export function deadline(parent: AbortSignal | null | undefined, ms: number): AbortSignal {
  const timeout = AbortSignal.timeout(Math.max(0, ms));
  pending.add(timeout);
  timeout.addEventListener("abort", () => pending.delete(timeout), { once: true });
  return parent ? AbortSignal.any([parent, timeout]) : timeout;
}
