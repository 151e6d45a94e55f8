import { describe, expect, it } from "vitest";
import { parseConsoleLog } from "../../src/monitor/console-parser.js";
import { kernelText, LinePrefix, PREFIX_KINDS } from "../../src/monitor/line-prefix.js";

describe("line prefixes", () => {
  it.each(PREFIX_KINDS.map((k) => [k.name, k] as const))("strips a %s prefix", (_, kind) => {
    expect(kind.prefix.test(kind.example)).toBe(true);
    const text = kernelText(kind.example);
    expect(text).toMatch(/^(?:BUG|general|divide|RIP|Kernel panic)/);
  });

  it("keeps the kernel timestamp and the printk caller id apart from the text", () => {
    const split = new LinePrefix().split(
      "<4>[  600.168788][ T9046] BUG: KMSAN: kernel-infoleak in _copy_to_user+0x1c9/0x270",
    );
    expect(split).toEqual({
      text: "BUG: KMSAN: kernel-infoleak in _copy_to_user+0x1c9/0x270",
      kernelTime: 600.168788,
      caller: "T9046",
    });
  });

  it("learns an unknown prefix from a timestamped line and strips it from lines without a timestamp", () => {
    const prefix = new LinePrefix();
    expect(prefix.split("node-17 console> [   12.000001] Call Trace:").text).toBe("Call Trace:");
    expect(prefix.split("node-18 console> HB 3 2536")).toEqual({
      text: "HB 3 2536",
      kernelTime: null,
      caller: null,
    });
  });

  it("leaves kernel text, agent lines and indented frames alone", () => {
    for (const line of [
      "BUG: unable to handle page fault for address: ffff8f3c43a05000",
      "HB 0 1785",
      "  gpf_fire+0x2b/0x60 [gpf]",
    ])
      expect(kernelText(line)).toBe(line);
  });

  it("finds a report whose lines carry no kernel timestamp behind a syslog prefix", () => {
    const log = [
      "Apr 18 08:58:32 node7 kernel: general protection fault: 0000 [#1] PREEMPT SMP NOPTI",
      "Apr 18 08:58:32 node7 kernel: RIP: 0010:memcorrupt_fire+0x2b/0x60 [memcorrupt]",
      "",
    ].join("\n");
    expect(parseConsoleLog(log).crash).toMatchObject({
      crashClass: "gpf",
      frame: "memcorrupt_fire",
      module: "memcorrupt",
    });
  });
});

describe("no false alarms", () => {
  it.each([
    [
      "a user-space WARNING",
      "WARNING: the mand mount option is being deprecated and will be removed in v5.15!\nok\n",
    ],
    ["a program's own warning", "[  12.1] WARNING: could not open /etc/foo.conf, using defaults\nstarting\n"],
    [
      "a user-space segfault",
      "[   30.1] a.out[412]: segfault at 0 ip 000055d0 sp 00007ffd error 6 in a.out[55d0+1000]\n",
    ],
    [
      "a traps: line",
      "[   31.2] traps: a.out[413] general protection fault ip:401136 sp:7ffc error:0 in a.out[401000+1000]\n",
    ],
    [
      "syslog lines that mention errors",
      "Apr 18 08:58:32 node7 sshd[88]: error: kex_exchange_identification: Connection closed\n",
    ],
    [
      "boot noise",
      "[    0.123] ACPI: BIOS bug: multiple APIC/MADT found, using 0\n[    1.2] EXT4-fs (sda1): INFO: recovery required on readonly filesystem\n",
    ],
    ["a Go-style panic without goroutines", "panic: nothing to do\n"],
  ])("ignores %s", (_, log) => {
    expect(parseConsoleLog(log).crash).toBeNull();
  });
});
