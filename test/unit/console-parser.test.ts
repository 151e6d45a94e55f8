import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  type AgentEvent,
  ConsoleParser,
  EXCERPT_MAX_LINES,
  parseConsoleLog,
} from "../../src/monitor/console-parser.js";
import { CRASH_CLASSES, isOopsLine, OOPS_PATTERNS } from "../../src/monitor/oops-patterns.js";

/** The raw console of a golden fixture (the bytes after its header block). */
function fixtureBody(name: string): Buffer {
  const bytes = readFileSync(new URL(`../fixtures/console/${name}`, import.meta.url));
  return bytes.subarray(bytes.indexOf("\n\n") + 2);
}

/** Feed `chunks` one by one and collect everything the parser reports, in a comparable form. */
function feed(chunks: (Buffer | string)[], opts?: ConstructorParameters<typeof ConsoleParser>[0]) {
  const parser = new ConsoleParser(opts);
  const lines: { text: string; kernelTime: number | null; truncated: boolean }[] = [];
  const events: AgentEvent[] = [];
  const take = (r: {
    lines: { text: string; kernelTime: number | null; truncated: boolean }[];
    events: AgentEvent[];
  }) => {
    for (const l of r.lines) lines.push({ text: l.text, kernelTime: l.kernelTime, truncated: l.truncated });
    events.push(...r.events);
  };
  for (const chunk of chunks) take(parser.push(chunk, 0));
  take(parser.end(0));
  return { lines, events, crash: parser.crash(), parser };
}

/** Deterministic pseudo-random numbers (mulberry32), so a failure replays. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomChunks(bytes: Buffer, next: () => number, maxSize: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    const size = 1 + Math.floor(next() * maxSize);
    chunks.push(bytes.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for raw control characters
const RAW_CONTROL = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/;

const ORACLE = "divide error in kerncrash_fire [kerncrash]";

describe("oops pattern table", () => {
  it("lists crash classes in a sorted block", () => {
    expect([...CRASH_CLASSES]).toEqual([...CRASH_CLASSES].sort());
  });

  it.each(OOPS_PATTERNS.map((p, i) => [p.example, i] as const))(
    "matches %s with its own entry first",
    (example, i) => {
      expect(OOPS_PATTERNS.findIndex((p) => p.header.test(example))).toBe(i);
      // A header that needs a stack to count gets one.
      const stack = OOPS_PATTERNS[i]?.needsTrace ? "[    5.000001] Call Trace:\n" : "";
      const crash = parseConsoleLog(`[    5.000000] ${example}\n${stack}`).crash;
      expect(crash?.crashClass).toBe(OOPS_PATTERNS[i]?.crashClass);
      expect(crash?.title).not.toMatch(/[{}?]/);
    },
  );

  it("tells host kernel log lines with an oops from ordinary ones", () => {
    expect(isOopsLine("divide error: 0000 [#1] PREEMPT SMP NOPTI")).toBe(true);
    expect(isOopsLine("[  812.004411] WARNING: CPU: 3 PID: 77 at mm/slub.c:4301 kfree+0x3a/0x50")).toBe(true);
    expect(isOopsLine("e1000e: eth0 NIC Link is Up 1000 Mbps Full Duplex")).toBe(false);
    expect(isOopsLine("---[ end Kernel panic - not syncing: Fatal exception ]---")).toBe(false);
  });
});

describe("ConsoleParser chunking", () => {
  it("gives the same result for a real capture split at every byte offset", () => {
    const body = fixtureBody("qemu-tcg/kerncrash-process.log");
    const whole = feed([body]);
    expect(whole.crash?.title).toBe(ORACLE);
    for (let cut = 0; cut <= body.length; cut++) {
      const split = feed([body.subarray(0, cut), body.subarray(cut)]);
      expect({ ...split, parser: null }, `split at byte ${cut}`).toEqual({ ...whole, parser: null });
    }
  });

  it("gives the same result fed one byte at a time and in random chunks", () => {
    const body = fixtureBody("qemu-tcg/kerncrash-timer-verbose.log");
    const whole = feed([body]);
    const bytewise = feed([...body].map((b) => Buffer.of(b)));
    expect({ ...bytewise, parser: null }).toEqual({ ...whole, parser: null });
    const next = random(42);
    for (let round = 0; round < 20; round++) {
      const chunked = feed(randomChunks(body, next, 300));
      expect({ ...chunked, parser: null }, `round ${round}`).toEqual({ ...whole, parser: null });
    }
  });

  it("reassembles UTF-8 characters split between chunks", () => {
    const bytes = Buffer.from("HB 1 2\nERROR bad name: über → 😀\nPONG 9\n");
    const whole = feed([bytes]);
    expect(whole.events).toContainEqual({ kind: "agent-error", text: "bad name: über → 😀" });
    for (let cut = 0; cut <= bytes.length; cut++) {
      expect(feed([bytes.subarray(0, cut), bytes.subarray(cut)]).events, `split at byte ${cut}`).toEqual(
        whole.events,
      );
    }
  });
});

describe("ConsoleParser line endings", () => {
  const lines = [
    "READY ezone-agent/1 hb=250",
    "[    2.962749] divide error: 0000 [#1] PREEMPT SMP NOPTI",
    "[    2.963820] RIP: 0010:kerncrash_fire+0x22/0x39 [kerncrash]",
    "HB 3 2705",
  ];

  it("treats \\n, \\r\\n and \\r\\n\\r alike", () => {
    const lf = feed([`${lines.join("\n")}\n`]);
    expect(lf.lines.map((l) => l.text)).toEqual([
      "READY ezone-agent/1 hb=250",
      "divide error: 0000 [#1] PREEMPT SMP NOPTI",
      "RIP: 0010:kerncrash_fire+0x22/0x39 [kerncrash]",
      "HB 3 2705",
    ]);
    expect(lf.crash?.title).toBe(ORACLE);
    for (const eol of ["\r\n", "\r\n\r"]) {
      const other = feed([`${lines.join(eol)}${eol}`]);
      expect({ ...other, parser: null }, JSON.stringify(eol)).toEqual({ ...lf, parser: null });
    }
  });

  it("records the kernel timestamp and works without one", () => {
    const { lines: parsed } = feed([`${lines[1]}\ndivide error: 0000 [#1] SMP\n`]);
    expect(parsed[0]).toMatchObject({
      text: "divide error: 0000 [#1] PREEMPT SMP NOPTI",
      kernelTime: 2.962749,
    });
    expect(parsed[1]).toMatchObject({ text: "divide error: 0000 [#1] SMP", kernelTime: null });
  });

  it("flushes a final partial line at end(), but not a lone carriage return", () => {
    expect(feed(["HB 1 2\nHB 2 3"]).events).toEqual([
      { kind: "hb", seq: 1, uptimeMs: 2 },
      { kind: "hb", seq: 2, uptimeMs: 3 },
    ]);
    expect(feed(["HB 1 2\r\n\r"]).lines).toHaveLength(1);
  });

  it("stamps each line with the arrival time of the chunk that completed it", () => {
    const parser = new ConsoleParser();
    expect(parser.push("HB 1 ", 10).lines).toEqual([]);
    expect(parser.push("2\nHB 2 3\n", 25).lines.map((l) => l.atMs)).toEqual([25, 25]);
  });
});

describe("ConsoleParser agent lines", () => {
  it("parses every agent line with its numbers", () => {
    const { events } = feed([
      [
        "READY ezone-agent/1 hb=500",
        "HB 17 4286",
        "FIRED kerncrash nonce=abc123",
        "INJECT-FAILED kerncrash errno=129 finit_module: Key was rejected by service",
        "[    2.961452] ezone-fault: kerncrash nonce=abc123 firing context=process",
        "PONG 90071",
        "ERROR unknown command",
        "",
      ].join("\n"),
    ]);
    expect(events).toEqual([
      { kind: "ready", version: "ezone-agent/1", hbMs: 500 },
      { kind: "hb", seq: 17, uptimeMs: 4286 },
      { kind: "fired", fault: "kerncrash", nonce: "abc123" },
      {
        kind: "inject-failed",
        fault: "kerncrash",
        errno: 129,
        message: "finit_module: Key was rejected by service",
      },
      { kind: "proof", fault: "kerncrash", nonce: "abc123", context: "process" },
      { kind: "pong", uptimeMs: 90071 },
      { kind: "agent-error", text: "unknown command" },
    ]);
  });

  it("ignores malformed agent lines, agent words not at line start, and kernel lines that look like them", () => {
    const malformed = [
      "READY",
      "READY ezone-agent/1",
      "HB x 12",
      "HB 12",
      "HB 1 99999999999999999999",
      "FIRED kerncrash",
      "INJECT-FAILED kerncrash errno=abc nope",
      "PONG",
      "PONG soon",
      "ERROR",
      "foo HB 1 2",
      " HB 1 2",
      "[    1.000000] HB 1 2",
      "ezone-fault: kerncrash nonce=abc armed delay_ms=1000",
    ];
    expect(() => feed([`${malformed.join("\n")}\n`])).not.toThrow();
    expect(feed([`${malformed.join("\n")}\n`]).events).toEqual([]);
  });

  it("separates kernel output interleaved with agent lines, even glued to one", () => {
    const { events, crash, lines } = feed([
      "READY ezone-agent/1 hb=250\n",
      "FIRED kerncrash nonce=paper42\n",
      "HB 4 2955[    3.027395] ezone-fault: kerncrash nonce=paper42 firing context=timer\n",
      "[    3.032429] divide error: 0000 [#1] PREEMPT SMP NOPTI\n",
      "HB 5 3205\n",
      "[    3.033777] RIP: 0010:kerncrash_fire+0x22/0x39 [kerncrash]\n",
    ]);
    expect(events.map((e) => e.kind)).toEqual(["ready", "fired", "hb", "proof", "hb"]);
    expect(events[2]).toEqual({ kind: "hb", seq: 4, uptimeMs: 2955 });
    expect(lines.map((l) => l.text)).toContain("HB 4 2955");
    expect(crash?.title).toBe(ORACLE);
  });
});

describe("ConsoleParser crash reports", () => {
  it("refines the title as the report arrives and marks the panic", () => {
    const parser = new ConsoleParser();
    expect(parser.push("[    2.9] HB-less boot line\n", 0).crash).toBeNull();
    const first = parser.push("[    2.962749] divide error: 0000 [#1] PREEMPT SMP NOPTI\n", 1).crash;
    expect(first).toMatchObject({
      title: "divide error",
      crashClass: "divide-error",
      corrupted: true,
      panic: false,
    });
    expect(first?.lineIndex).toBe(1);
    const refined = parser.push("[    2.963820] RIP: 0010:kerncrash_fire+0x22/0x39 [kerncrash]\n", 2).crash;
    expect(refined).toMatchObject({ title: ORACLE, corrupted: false, panic: false, panicReason: null });
    parser.push("[    3.039618] RIP: 0010:native_safe_halt+0xb/0x10\n", 3);
    const final = parser.push(
      "[    3.046112] Kernel panic - not syncing: Fatal exception in interrupt\n",
      4,
    ).crash;
    expect(final).toMatchObject({ title: ORACLE, panic: true, panicReason: "Fatal exception in interrupt" });
    expect(final?.excerpt.at(-1)).toBe(
      "[    3.046112] Kernel panic - not syncing: Fatal exception in interrupt",
    );
  });

  it("keeps the header's short form and flags a truncated oops as corrupted", () => {
    const crash = parseConsoleLog(fixtureBody("synthetic/truncated-oops.log")).crash;
    expect(crash).toMatchObject({
      title: "divide error",
      crashClass: "divide-error",
      corrupted: true,
      panic: false,
    });
  });

  it("names the first reliable, specific Call Trace frame when RIP is missing or generic; a specific RIP wins", () => {
    const header = "general protection fault: 0000 [#1] PREEMPT SMP NOPTI";
    const trace = [
      "Call Trace:",
      " <TASK>",
      " ? stale_fn+0x1/0x2",
      " dump_stack_lvl+0x44/0x5c",
      " gpf_fire+0x2b/0x60 [gpf]",
    ];
    expect(parseConsoleLog([header, ...trace, ""].join("\n")).crash?.title).toBe(
      "general protection fault in gpf_fire [gpf]",
    );
    const genericRip = [header, ...trace, "RIP: 0010:memcpy_orig+0x10/0x120", ""].join("\n");
    expect(parseConsoleLog(genericRip).crash?.title).toBe("general protection fault in gpf_fire [gpf]");
    const withRip = [header, ...trace, "RIP: 0010:gpf_copy.isra.0+0x10/0x120 [gpf]", ""].join("\n");
    expect(parseConsoleLog(withRip).crash).toMatchObject({
      title: "general protection fault in gpf_copy [gpf]",
      frame: "gpf_copy",
      module: "gpf",
    });
  });

  it("reports a panic without an oops as class panic", () => {
    const crash = parseConsoleLog("Kernel panic - not syncing: sysrq triggered crash\n").crash;
    expect(crash).toMatchObject({
      title: "kernel panic: sysrq triggered crash",
      crashClass: "panic",
      panic: true,
      panicReason: "sysrq triggered crash",
      corrupted: false,
    });
  });

  it("lets a fatal oops replace an earlier survivable report only once that ended, never the other way round", () => {
    const warning = "WARNING: CPU: 0 PID: 1 at fs/foo.c:1 foo_bar+0x1/0x2\n";
    const ended = `${warning}---[ end trace 0000000000000000 ]---\n`;
    const oops = "divide error: 0000 [#1] SMP\nRIP: 0010:kerncrash_fire+0x22/0x39 [kerncrash]\n";
    expect(parseConsoleLog(ended + oops).crash?.title).toBe(ORACLE);
    expect(parseConsoleLog(`${warning}HB 3 2536\n${oops}`).crash?.title).toBe(ORACLE);
    expect(parseConsoleLog(warning + oops).crash?.title).toBe("WARNING in foo_bar");
    expect(parseConsoleLog(oops + ended).crash?.title).toBe(ORACLE);
    const panicked = `${warning}Kernel panic - not syncing: kernel: panic_on_warn set ...\n${oops}`;
    expect(parseConsoleLog(panicked).crash).toMatchObject({ title: "WARNING in foo_bar", panic: true });
  });

  it("bounds the excerpt and still ends it with the panic line", () => {
    const body = [
      "divide error: 0000 [#1] SMP",
      ...Array.from({ length: 500 }, (_, i) => `filler ${i}`),
      "Kernel panic - not syncing: Fatal exception",
      "",
    ].join("\n");
    const crash = parseConsoleLog(body).crash;
    expect(crash?.excerpt).toHaveLength(EXCERPT_MAX_LINES);
    expect(crash?.excerpt.at(-2)).toMatch(/^\[\.\.\. \d+ lines omitted \.\.\.\]$/);
    expect(crash?.excerpt.at(-1)).toBe("Kernel panic - not syncing: Fatal exception");
  });
});

describe("ConsoleParser hostile input", () => {
  it("keeps a 10 MB line without newline within maxLineBytes", () => {
    const parser = new ConsoleParser({ maxLineBytes: 4096 });
    const block = Buffer.alloc(64 * 1024, "A");
    for (let sent = 0; sent < 10 * 1024 * 1024; sent += block.length) {
      expect(parser.push(block, 0).lines).toEqual([]);
      expect(parser.bufferedBytes).toBeLessThanOrEqual(4096);
    }
    const after = parser.push("\nHB 7 100\n", 1);
    expect(after.lines).toHaveLength(2);
    expect(after.lines[0]).toMatchObject({ truncated: true });
    expect(after.lines[0]?.text).toHaveLength(4096);
    expect(after.events).toEqual([{ kind: "hb", seq: 7, uptimeMs: 100 }]);
    expect(parser.bufferedBytes).toBe(0);
  });

  it("cuts a single huge chunk too, and never mid-character", () => {
    const { lines } = feed([`${"é".repeat(5_000_000)}\n`], { maxLineBytes: 101 });
    expect(lines).toEqual([{ text: "é".repeat(50), kernelTime: null, truncated: true }]);
  });

  it("never throws on binary garbage and leaves no raw control characters", () => {
    const next = random(7);
    const garbage = Buffer.from(Array.from({ length: 1 << 20 }, () => Math.floor(next() * 256)));
    const result = feed(randomChunks(garbage, next, 4000));
    expect(result.lines.length).toBeGreaterThan(1000);
    for (const line of result.lines) expect(line.text).not.toMatch(RAW_CONTROL);
  });

  it("strips ANSI sequences and makes other control bytes and invalid UTF-8 visible", () => {
    const dirty = Buffer.concat([
      Buffer.from("\x1b[1;31m[    2.962749] divide error: 0000 [#1] SMP\x1b[0m\n"),
      Buffer.from("\x1b]0;title\x07bell\x07 nul\x00 \n"),
      Buffer.from([0x62, 0x61, 0x64, 0x20, 0xff, 0xc3, 0x28, 0x0a]),
    ]);
    const { lines, crash } = feed([dirty]);
    expect(lines.map((l) => l.text)).toEqual([
      "divide error: 0000 [#1] SMP",
      "bell\\x07 nul\\x00",
      "bad \\xff\\xc3(",
    ]);
    expect(lines[0]?.kernelTime).toBe(2.962749);
    expect(crash?.crashClass).toBe("divide-error");
  });

  it("keeps only the last windowLines lines", () => {
    const { parser } = feed([Array.from({ length: 50 }, (_, i) => `HB ${i} ${i}\n`).join("")], {
      windowLines: 10,
    });
    expect(parser.window().map((l) => l.text)).toEqual(
      Array.from({ length: 10 }, (_, i) => `HB ${40 + i} ${40 + i}`),
    );
  });

  it("rejects options that would make no sense", () => {
    expect(() => new ConsoleParser({ maxLineBytes: 0 })).toThrow(
      /maxLineBytes must be a positive integer, got 0/,
    );
    expect(() => new ConsoleParser({ windowLines: 1.5 })).toThrow(/windowLines/);
  });
});
