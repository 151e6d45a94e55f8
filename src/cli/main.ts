#!/usr/bin/env node
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Command, CommanderError } from "commander";
import { ConfigError, ExitError, InfraError, UsageError } from "../util/errors.js";
import { ezoneVersion } from "../util/version.js";

/**
 * The command table. `main` below reads argv and maps every error to the exit code (a contract): 0 done,
 * 1 findings, 2 usage or config error, 3 infrastructure error, 70 internal error (a bug), 130 interrupted
 * (a second Ctrl-C exits at once from the command that handles it).
 */
export function buildProgram(): Command {
  const program = new Command("ezone")
    .description("When something goes wrong inside a guest, how far does the damage reach?")
    .version(ezoneVersion())
    .exitOverride()
    .showHelpAfterError();

  program
    .command("doctor")
    .description("what this host can run: backends and tools, and how to install what is missing")
    .option("--json", "machine-readable output")
    .action(async (o) => (await import("./commands/doctor.js")).run(o));

  program
    .command("image")
    .description("guest images")
    .command("build")
    .description(
      "build the guest image (Debian kernel + BusyBox + agent + fault modules), cached by content hash",
    )
    .option("--kernel <vmlinuz>", "your own kernel image instead of Debian's")
    .option("--kernel-build-dir <dir>", "build tree of --kernel, to compile the fault modules against")
    .option("--kernel-modules-dir <dir>", "modules tree of --kernel holding pvpanic, if it is not built in")
    .option("--cache-dir <dir>", "cache directory (default $XDG_CACHE_HOME/ezone)")
    .option("--host", "also build the disposable host's image (a VM that plays the node)")
    .option("--json", "machine-readable output")
    .action(async (o) => (await import("./commands/image-build.js")).run(o));

  program
    .command("run")
    .description("run a campaign (re-running resumes: stored runs are never repeated)")
    .argument("<campaign.yaml>")
    .option("--results <dir>", "results directory (default results/<campaign name>)")
    .option("--resume", "continue a campaign (the default behaviour)")
    .option("--jobs <n>", "concurrent runs (default: from cores and memory)")
    .option("--no-snapshot", "boot every run fresh instead of starting from a saved guest")
    .option(
      "--fail-on <outcomes>",
      "exit 1 if any stored run has one of these outcomes, e.g. escaped-global,unknown",
    )
    .option("--shard <I/N>", "run only shard I (0-based) of N, by cell, into <results>/shards/<I>")
    .action(async (file, o) => (await import("./commands/run.js")).run(file, o));

  program
    .command("rerun")
    .description("replay one stored run with the same seed and parameters (not stored)")
    .argument("<run-key>")
    .requiredOption("--results <dir>", "results directory holding the run")
    .option("--console <file>", "write the replay's console log here")
    .action(async (key, o) => (await import("./commands/rerun.js")).run(key, o));

  program
    .command("show")
    .description("one stored run: verdict, reasons, evidence and the paths of its console and QMP log")
    .argument("<run-key>")
    .requiredOption("--results <dir>", "results directory holding the run")
    .option("--console", "print the run's console instead (bounded, control characters made visible)")
    .option("--max-bytes <n>", "bound of --console in bytes; head and tail are kept (default 262144)")
    .action(async (key, o) => (await import("./commands/show.js")).run(key, o));

  program
    .command("export")
    .description("stored runs as jsonl, csv (spreadsheets) or junit (CI dashboards)")
    .argument("<results-dir>")
    .requiredOption("--format <format>", "jsonl | csv | junit")
    .option("--campaign <name>", "only this campaign")
    .action(async (dir, o) => (await import("./commands/export.js")).run(dir, o));

  program
    .command("schema")
    .description("JSON Schema of campaign files, for editors and linters")
    .action(async () => (await import("./commands/schema.js")).run());

  program
    .command("perf")
    .description("measured overhead of every backend against native (benchmarks interleaved by round)")
    .option("--backends <list>", 'comma list of backends, or "all" (native is always the reference)', "all")
    .option("--reps <n>", "rounds: each boots every backend once; each benchmark runs native first", "5")
    .option(
      "--samples <n>",
      "measured repetitions per benchmark per boot, their median the round's value (default 3)",
    )
    .option("--warmup <n>", "repetitions run first and discarded, per benchmark per boot (default 1)")
    .option("--ms <n>", "duration of one repetition in milliseconds (default 200)")
    .option("--mb <n>", "buffer size of the memory benchmarks in MiB (default 32)")
    .option("--benchmarks <list>", 'comma list of benchmarks, or "all"')
    .option("--memory-mb <n>", "guest memory of VM backends (default 256)")
    .option(
      "--results <dir>",
      "results directory (default results/perf; a campaign's puts them next to its runs)",
    )
    .option(
      "--campaign <name>",
      "campaign the results are filed under (default: the directory's only one, or perf)",
    )
    .option("--json", "machine-readable output")
    .action(async (o) => (await import("./commands/perf.js")).run(o));

  const monitor = program
    .command("monitor")
    .description("watch enclaves' heartbeats through the host's syslog; store and announce violations")
    // Not a requiredOption: commander would then demand it of `monitor setup` too.
    .option("--config <m.yaml>", "monitor configuration (see examples/monitor/monitor.yaml)")
    .option("--duration <seconds>", "stop after this long (default: until interrupted)")
    .action(async (o) => {
      if (!o.config) monitor.error("error: required option '--config <m.yaml>' not specified");
      await (await import("./commands/monitor.js")).run(o);
    });
  monitor
    .command("setup")
    .description("start (or restart, or --stop) a private rsyslogd for the monitor, in the background")
    .option("--dir <dir>", "runtime directory (default $EZONE_RUN_DIR or /run/ezone)")
    .option("--output <file>", "rsyslog's output, the monitor's input (default /var/log/ezone/enclaves.log)")
    .option("--stop", "stop the daemon")
    .action(async (o) => (await import("./commands/monitor.js")).setup(o));

  const enclave = program.command("enclave").description("long-running enclaves for `ezone monitor`");
  enclave
    .command("start")
    .description("boot an enclave in the background; returns once its agent is READY")
    .argument("<backend>", "qemu-tcg | kvm")
    .requiredOption("--name <name>", "the enclave's name (its syslog HOSTNAME)")
    .option("--syslog", "send its heartbeats and crash reports to the syslog of `ezone monitor setup`")
    .option("--syslog-socket <path>", "send them to this syslog socket instead")
    .option("--memory-mb <n>", "guest memory (default 256)")
    .option("--heartbeat-ms <n>", "agent heartbeat interval (default 250)")
    .option("--lifetime <seconds>", "stop it after this long (default: until `ezone enclave stop`)")
    .option("--boot-timeout <seconds>", "deadline for the agent's READY (default 120)")
    .option("--dir <dir>", "runtime directory (default $EZONE_RUN_DIR or /run/ezone)")
    .option("--foreground", "supervise in this process instead of the background")
    .action(async (b, o) => (await import("./commands/enclave.js")).start(b, o));
  enclave
    .command("list")
    .description("enclaves of the runtime directory and their status")
    .option("--dir <dir>", "runtime directory")
    .option("--json", "machine-readable output")
    .action(async (o) => (await import("./commands/enclave.js")).list(o));
  enclave
    .command("stop")
    .description("stop an enclave (or --all) and remove its files")
    .argument("[name]")
    .option("--all", "every enclave of the runtime directory")
    .option("--dir <dir>", "runtime directory")
    .action(async (n, o) => (await import("./commands/enclave.js")).stop(n, o));
  enclave
    .command("inject")
    .description("have a running enclave's agent fire a guest fault now (e.g. kerncrash)")
    .argument("<name>")
    .argument("<fault>")
    .option("--dir <dir>", "runtime directory")
    .action(async (n, f, o) => (await import("./commands/enclave.js")).inject(n, f, o));

  program
    .command("matrix")
    .description("every supported (backend, fault) pair, then backend × error zone with outcome counts")
    .option("--runs <n>", "repetitions per supported (backend, fault) cell", "3")
    .option("--backends <list>", 'comma list of backends, or "all"', "all")
    .option("--faults <list>", 'comma list of faults, or "all" (the control run is left out)', "all")
    .option("--results <dir>", "results directory (default results/matrix; re-running resumes)")
    .option("--jobs <n>", "concurrent runs (default: from cores and memory)")
    .option("--no-snapshot", "boot every run fresh instead of starting from a saved guest")
    .option("--json", "machine-readable output")
    .action(async (o) => (await import("./commands/matrix.js")).run(o));

  const slurm = program
    .command("slurm")
    .description("campaigns on a Slurm cluster: one job array task per shard");
  slurm
    .command("submit")
    .description("submit the campaign as a Slurm job array (--dry-run prints the job script)")
    .argument("<campaign.yaml>")
    .requiredOption("--shards <n>", "number of shards (array tasks); cells are dealt to them round-robin")
    .option("--results <dir>", "results directory on a file system every node sees (default results/<name>)")
    .option("--partition <p>", "sbatch --partition")
    .option("--time <t>", "sbatch --time, per task")
    .option("--account <a>", "sbatch --account")
    .option("--extra <args>", 'more sbatch options, e.g. "--cpus-per-task=4 --mem=8G"')
    .option("--jobs <n>", "concurrent runs per task (default: from the node's cores and memory)")
    .option("--max-parallel <n>", "at most this many tasks at once (--array=0-N%M)")
    .option("--no-exclusive", "share nodes with other jobs (default: a whole node per task)")
    .option("--no-snapshot", "boot every run fresh instead of starting from a saved guest")
    .option("--dry-run", "print the job script; submit nothing")
    .action(async (file, o) => (await import("./commands/slurm.js")).submit(file, o));
  slurm
    .command("status")
    .description("shards done / running / pending / failed, from squeue and the shard stores")
    .argument("<results-dir>")
    .option("--json", "machine-readable output")
    .action(async (dir, o) => (await import("./commands/slurm.js")).status(dir, o));

  program
    .command("merge")
    .description("merge the shard stores under <results>/shards into the campaign's store (idempotent)")
    .argument("<results-dir>")
    .action(async (dir) => (await import("./commands/merge.js")).run(dir));

  program
    .command("validate")
    .description("check a campaign or monitor config without using it; says which command takes it")
    .argument("<file.yaml>")
    .action(async (file) => (await import("./commands/validate.js")).run(file));

  program
    .command("report")
    .description(
      "zone matrix and paper table from a results directory; --html for plots and per-run evidence",
    )
    .argument("<results-dir>")
    .option("--campaign <name>", "only this campaign")
    .option("--format <format>", "text | md | json (default text, coloured on a terminal unless NO_COLOR)")
    .option("--json", "same as --format json")
    .option("--html <file>", "also write a self-contained HTML report (no network needed to view it)")
    .action(async (dir, o) => (await import("./commands/report.js")).run(dir, o));

  program
    .command("console")
    .description("guest console logs")
    .command("parse")
    .description("does each saved console log show a kernel crash? prints its title, class and culprit")
    .argument("<log...>")
    .option("--json", "one JSON object per log, one line each (see docs/console-parse.md)")
    .option("--fail-on-crash", "exit 1 when a log shows a crash (default: 0 whenever the logs parsed)")
    .action(async (files, o) => (await import("./commands/console-parse.js")).run(files, o));

  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof ExitError) return e.code;
    if (e instanceof ConfigError) {
      process.stderr.write(
        `ezone: invalid input: ${e.file}\n${e.issues.map((i) => `  ${i.path || "(root)"}: ${i.message}`).join("\n")}\n`,
      );
      return 2;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`ezone: ${e.message}\n`);
      return 2;
    }
    if (e instanceof InfraError) {
      process.stderr.write(`ezone: infrastructure error: ${e.message}\n`);
      return 3;
    }
    process.stderr.write(`ezone: internal error (please report this as a bug): ${(e as Error).stack ?? e}\n`);
    return 70;
  }
}

/** This file is the program being run (`node dist/cli/main.js`, the `ezone` link), not a test's import of main. */
function isEntryPoint(): boolean {
  try {
    return realpathSync(process.argv[1] ?? "") === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    () => {
      process.exitCode = 70;
    },
  );
}
