/**
 * What a stored console log shows, re-derived for the report: the excerpt around the oops (or the last
 * lines when there is none) and a timeline in guest time — heartbeats, the proof printk, the crash header
 * and the panic line. Pure: bytes in, data out. Lines come out of `ConsoleParser` already cleaned (ANSI
 * removed, other controls made visible); they are still guest text and must be escaped where shown.
 */
import type { Buffer } from "node:buffer";
import { type ConsoleLine, ConsoleParser, type CrashReport } from "../monitor/console-parser.js";

/** A moment on the guest's clock (seconds since boot), with what happened then. */
export interface TimelineMark {
  kind: "ready" | "fired" | "proof" | "crash" | "panic" | "inject-failed";
  /** Guest seconds; null when the line carried no time and no heartbeat came before it. */
  atS: number | null;
  /** True when the time is the last heartbeat's before an agent line that has no timestamp of its own. */
  approximate: boolean;
  label: string;
}

export interface ConsoleEvidence {
  /** `oops`: a kernel crash report was found; `tail`: no crash, the last lines; `empty`: no lines. */
  excerptKind: "oops" | "tail" | "empty";
  excerpt: string[];
  crash: CrashReport | null;
  /** Heartbeats in order: sequence number and the agent's uptime. */
  heartbeats: { seq: number; atS: number }[];
  marks: TimelineMark[];
  lines: number;
}

/** Lines shown when the console has no crash report. */
export const TAIL_LINES = 25;

function display(line: ConsoleLine): string {
  return line.kernelTime === null ? line.text : `[${line.kernelTime.toFixed(6).padStart(13)}] ${line.text}`;
}

type ParsedChunk = Omit<ReturnType<ConsoleParser["push"]>, "crash">;
type AgentEvent = ParsedChunk["events"][number];

/** A mark at the line's own time when it has one, else at the last heartbeat's (approximate). */
function markAt(kind: TimelineMark["kind"], label: string, lineTime: number | null, lastHb: number | null) {
  return { kind, atS: lineTime ?? lastHb, approximate: lineTime === null, label };
}

/** The timeline mark of an event, or null for events that make none (heartbeats are kept apart). */
function eventMark(ev: AgentEvent, lineTime: number | null, lastHb: number | null): TimelineMark | null {
  switch (ev.kind) {
    case "ready":
      return markAt("ready", `READY (agent ${ev.version})`, null, lastHb);
    case "fired":
      return markAt("fired", `FIRED ${ev.fault}`, null, lastHb);
    case "inject-failed":
      return markAt("inject-failed", `INJECT-FAILED ${ev.fault} errno=${ev.errno}`, null, lastHb);
    case "proof":
      return markAt("proof", `proof: ${ev.fault} (${ev.context})`, lineTime, lastHb);
    default:
      return null;
  }
}

/** Heartbeats and marks collected line by line; the crash and the panic are marked once each. */
class Timeline {
  readonly heartbeats: { seq: number; atS: number }[] = [];
  readonly marks: TimelineMark[] = [];
  lines = 0;
  #lastHb: number | null = null;

  take(chunk: ParsedChunk, crash: CrashReport | null): void {
    this.lines += chunk.lines.length;
    const lineTime = chunk.lines.find((l) => l.kernelTime !== null)?.kernelTime ?? null;
    for (const ev of chunk.events) {
      if (ev.kind === "hb") {
        this.#lastHb = ev.uptimeMs / 1000;
        this.heartbeats.push({ seq: ev.seq, atS: this.#lastHb });
      }
      const mark = eventMark(ev, lineTime, this.#lastHb);
      if (mark) this.marks.push(mark);
    }
    if (crash && !this.marks.some((m) => m.kind === "crash"))
      this.marks.push(markAt("crash", crash.title, lineTime, this.#lastHb));
    if (crash?.panic && !this.marks.some((m) => m.kind === "panic"))
      this.marks.push(markAt("panic", "kernel panic", lineTime, this.#lastHb));
  }
}

/** Parse a stored console log line by line, so every event can be placed at its line's time. */
export function consoleEvidence(log: Buffer): ConsoleEvidence {
  const parser = new ConsoleParser();
  const timeline = new Timeline();
  // One push per line: each event is then known to belong to that line and its timestamp.
  let start = 0;
  while (start < log.length) {
    const newline = log.indexOf(0x0a, start);
    const end = newline === -1 ? log.length : newline + 1;
    timeline.take(parser.push(log.subarray(start, end), 0), parser.crash());
    start = end;
  }
  timeline.take(parser.end(0), parser.crash());

  const { heartbeats, marks, lines } = timeline;
  const crash = parser.crash();
  // The title refines as RIP and trace lines arrive: label the mark with the final one.
  const crashMark = marks.find((m) => m.kind === "crash");
  if (crash && crashMark) crashMark.label = crash.title;
  if (crash) return { excerptKind: "oops", excerpt: crash.excerpt, crash, heartbeats, marks, lines };
  const tail = parser.window().slice(-TAIL_LINES).map(display);
  return {
    excerptKind: tail.length ? "tail" : "empty",
    excerpt: tail,
    crash: null,
    heartbeats,
    marks,
    lines,
  };
}
