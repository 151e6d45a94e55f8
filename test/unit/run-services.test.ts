import { describe, expect, it } from "vitest";
import { checkSyslogBackends } from "../../src/campaign/run-services.js";
import { campaignSchema } from "../../src/campaign/schema.js";
import { CgroupLimits } from "../../src/host/cgroup.js";
import { UsageError } from "../../src/util/errors.js";

const campaign = (backends: unknown[], syslog: boolean) =>
  campaignSchema.parse({ name: "c", backends, faults: ["none"], guest: { syslog } });

describe("campaign services: refused before the campaign starts, with the reason", () => {
  it("guest.syslog with a backend that cannot carry the channel", () => {
    expect(() => checkSyslogBackends(campaign(["native", "gvisor"], true))).toThrow(
      /guest\.syslog: true: backend gvisor cannot carry it: `runsc do` hands its sandbox only stdin/,
    );
    const exec = { name: "fc", type: "exec", exec: { start: "true" } };
    expect(() => checkSyslogBackends(campaign([exec], true))).toThrow(UsageError);
    expect(() =>
      checkSyslogBackends(campaign(["native", "container", "uml", "qemu-tcg"], true)),
    ).not.toThrow();
    expect(() => checkSyslogBackends(campaign(["gvisor"], false))).not.toThrow();
  });

  it("cgroup limits on a host without cpu and memory controllers", () => {
    expect(() => CgroupLimits.open({ ok: false, reason: "no cgroup hierarchy offers both" })).toThrow(
      /cgroup\.probe: cgroup limits cannot be set here: no cgroup hierarchy offers both/,
    );
  });
});
