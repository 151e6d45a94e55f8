/**
 * Ctrl-C and SIGTERM for long-running commands: the first signal aborts `signal` so the command winds
 * down (stops scheduling, stores what it has, cleans up); a second one exits 130 at once, the exit handler
 * killing every child process group.
 */
export interface Interrupt extends Disposable {
  /** Aborted, with `interrupted (SIGINT)` or `interrupted (SIGTERM)`, by the first signal. */
  readonly signal: AbortSignal;
}

/** What the first signal announces and what the second one prints before exiting. */
export interface InterruptMessages {
  first: (sig: NodeJS.Signals) => string;
  second?: string;
}

/** Install the handlers; disposing removes them (a command may also keep them until ezone exits). */
export function handleInterrupts(messages: InterruptMessages): Interrupt {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      process.stderr.write(`\n${messages.second ?? "ezone: killing now"}\n`);
      process.exit(130);
    }
    process.stderr.write(`\n${messages.first(sig)}\n`);
    controller.abort(new Error(`interrupted (${sig})`));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    signal: controller.signal,
    [Symbol.dispose]() {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}
