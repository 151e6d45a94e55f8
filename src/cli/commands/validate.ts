import { parseCampaign } from "../../campaign/load.js";
import { parseMonitorConfig } from "../../monitor-daemon/monitor-config.js";
import { CONFIG_KINDS, commandFor, configKindOf, readConfigText } from "../../util/yaml-config.js";

/**
 * `ezone validate <file.yaml>`: check a config without using it. A campaign or a monitor config, told
 * apart by its top-level keys; the answer names the command that takes the file.
 */
export async function run(file: string): Promise<void> {
  const text = readConfigText(file);
  const kind = configKindOf(text, file) ?? "campaign";
  let summary: string;
  if (kind === "monitor") {
    const c = parseMonitorConfig(text, file);
    summary = `${c.enclaves.length} enclave(s)`;
  } else {
    const c = parseCampaign(text, file);
    summary = `${c.backends.length} backend(s), ${c.faults.length} fault(s), ${c.repetitions} repetition(s)`;
  }
  process.stdout.write(
    `${file}: ok, ${CONFIG_KINDS[kind].noun} (${summary}); use it with \`${commandFor(kind, file)}\`\n`,
  );
}
