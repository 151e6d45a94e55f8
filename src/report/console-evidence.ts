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

/** Parse a stored console log line by line, so every event can be placed at its line's time. */
export function consoleEvidence(log: Buffer): ConsoleEvidence {
  const parser = new ConsoleParser();
  const heartbeats: { seq: number; atS: number }[] = [];
  const marks: TimelineMark[] = [];
  let lastHb: number | null = null;
  let lines = 0;
  let crashSeen = false;
  let panicSeen = false;

  const take = (r: { lines: ConsoleLine[]; events: ReturnType<ConsoleParser["push"]>["events"] }) => {
    lines += r.lines.length;
    const lineTime = r.lines.find((l) => l.kernelTime !== null)?.kernelTime ?? null;
    for (const ev of r.events) {
      switch (ev.kind) {
        case "hb":
          lastHb = ev.uptimeMs / 1000;
          heartbeats.push({ seq: ev.seq, atS: lastHb });
          break;
        case "ready":
          marks.push({ kind: "ready", atS: lastHb, approximate: true, label: `READY (agent ${ev.version})` });
          break;
        case "fired":
          marks.push({ kind: "fired", atS: lastHb, approximate: true, label: `FIRED ${ev.fault}` });
          break;
        case "inject-failed":
          marks.push({
            kind: "inject-failed",
            atS: lastHb,
            approximate: true,
            label: `INJECT-FAILED ${ev.fault} errno=${ev.errno}`,
          });
          break;
        case "proof":
          marks.push({
            kind: "proof",
            atS: lineTime ?? lastHb,
            approximate: lineTime === null,
            label: `proof: ${ev.fault} (${ev.context})`,
          });
          break;
        default:
          break;
      }
    }
    const crash = parser.crash();
    if (crash && !crashSeen) {
      crashSeen = true;
      marks.push({
        kind: "crash",
        atS: lineTime ?? lastHb,
        approximate: lineTime === null,
        label: crash.title,
      });
    }
    if (crash?.panic && !panicSeen) {
      panicSeen = true;
      marks.push({
        kind: "panic",
        atS: lineTime ?? lastHb,
        approximate: lineTime === null,
        label: "kernel panic",
      });
    }
  };

  // One push per line: each event is then known to belong to that line and its timestamp.
  let start = 0;
  while (start < log.length) {
    const newline = log.indexOf(0x0a, start);
    const end = newline === -1 ? log.length : newline + 1;
    take(parser.push(log.subarray(start, end), 0));
    start = end;
  }
  take(parser.end(0));

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
