import { loadCampaign } from "../../campaign/load.js";

/** `ezone validate <campaign.yaml>`: check a campaign without running it. */
export async function run(file: string): Promise<void> {
  const c = loadCampaign(file);
  process.stdout.write(
    `${file}: ok (${c.config.backends.length} backend(s), ${c.config.faults.length} fault(s), ${c.config.repetitions} repetition(s))\n`,
  );
}
