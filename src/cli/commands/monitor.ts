import { resolve } from "node:path";
import { loadMonitorConfig } from "../../monitor-daemon/monitor-config.js";
import { DEFAULT_SYSLOG_OUTPUT, runDir, syslogServicePaths } from "../../monitor-daemon/runtime-dir.js";
import { SyslogMonitor } from "../../monitor-daemon/syslog-monitor.js";
import { setupSyslog, teardownSyslog } from "../../monitor-daemon/syslog-setup.js";
import { Store } from "../../store/store.js";
import { ConfigError } from "../../util/errors.js";
import { handleInterrupts } from "../interrupt.js";

export interface MonitorCliOptions {
  config: string;
  /** Stop after this many seconds (soaks, smoke tests); default: until SIGINT/SIGTERM. */
  duration?: string;
}

/**
 * `ezone monitor --config m.yaml`: watch enclaves through the host's syslog until interrupted. Violations
 * are stored in the results directory's ezone.db and announced as configured; the final statistics are
 * printed on stdout as JSON. Exit 0 when stopped by a signal or the duration, 130 on a second Ctrl-C.
 */
export async function run(opts: MonitorCliOptions): Promise<void> {
  const { config, resultsDir } = loadMonitorConfig(opts.config);
  let durationMs: number | null = null;
  if (opts.duration !== undefined) {
    const s = Number(opts.duration);
    if (!Number.isFinite(s) || s <= 0)
      throw new ConfigError("--duration", [
        { path: "--duration", message: "expected a positive number of seconds" },
      ]);
    durationMs = s * 1000;
  }
  using store = Store.open(resultsDir);
  const monitor = await SyslogMonitor.start(config, { store });
  process.stderr.write(
    `ezone monitor ${config.name}: watching ${config.enclaves.length} enclave(s) through ${config.syslog.input.file}; violations in ${resultsDir}\n`,
  );
  {
    // A second interrupt exits at once, as in `ezone run`: it does not wait for notifications in flight.
    using interrupt = handleInterrupts({
      first: () => "ezone monitor: stopping...",
      second: "ezone monitor: killing now",
    });
    await new Promise<void>((resolve) => {
      interrupt.signal.addEventListener("abort", () => resolve(), { once: true });
      if (durationMs !== null) setTimeout(resolve, durationMs).unref();
    });
    await monitor.stop();
  }
  process.stdout.write(`${JSON.stringify(monitor.stats(), null, 2)}\n`);
}

export interface MonitorSetupOptions {
  /** Runtime directory (default $EZONE_RUN_DIR or /run/ezone): the syslog socket and rsyslogd's files. */
  dir?: string;
  /** rsyslog's output, the monitor's input (default /var/log/ezone/enclaves.log). */
  output?: string;
  /** Stop the daemon instead. */
  stop?: boolean;
}

/**
 * `ezone monitor setup`: a private rsyslogd for the monitor, started (or restarted when its
 * configuration changed) in the background; prints the two paths a monitor config names.
 */
export async function setup(opts: MonitorSetupOptions): Promise<void> {
  const paths = syslogServicePaths(runDir(opts.dir), resolve(opts.output ?? DEFAULT_SYSLOG_OUTPUT));
  if (opts.stop) {
    const was = await teardownSyslog(paths);
    process.stdout.write(was ? `rsyslogd stopped (${paths.socket})\n` : "no rsyslogd was running\n");
    return;
  }
  const r = await setupSyslog(paths);
  process.stdout.write(
    [
      `rsyslogd ${r.action} (pid ${r.pid}, configuration ${paths.conf})`,
      "a monitor config reads and sends through it with:",
      `  syslog: { target: { unix: ${paths.socket} }, input: { file: ${paths.output} } }`,
      "",
    ].join("\n"),
  );
}
