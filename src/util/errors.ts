/** ezone or the host tooling failed (QEMU did not start, disk full): a run to retry, never a result. */
export class InfraError extends Error {
  override name = "InfraError";
  constructor(
    /** The lifecycle step that failed, e.g. `spawn.vmm`, `wait.ready`. */
    readonly step: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${step}: ${message}`, options);
  }
}

/** Invalid user input (config file, flags): exit code 2, names the file, the path in it and what was expected. */
export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(
    readonly file: string,
    readonly issues: { path: string; message: string }[],
  ) {
    super(`${file}: ${issues.map((i) => `${i.path || "(root)"}: ${i.message}`).join("; ")}`);
  }
}

/** Ends the CLI with this exit code after a message was already printed. */
export class ExitError extends Error {
  override name = "ExitError";
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/** The command cannot be done as asked (e.g. the campaign is already running elsewhere): exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}
