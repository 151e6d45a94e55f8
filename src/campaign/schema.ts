import { z } from "zod";
import { BACKEND_NAMES } from "../backends/index.js";
import { FAULT_NAMES } from "../faults/catalogue.js";
import { FLIP_REGISTER_NAMES, SOFT_TARGETS } from "../model/soft-error.js";
import { cellEntry, checkCells } from "./cell-schema.js";

const name = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9._-]{0,62}$/,
    "a name of lower-case letters, digits, '.', '_' or '-', starting with a letter or digit (at most 63)",
  );

/** A backend entry: a built-in name, or an object naming its type (for `exec`, the VMM's commands). */
const backendEntry = z.union([
  z.enum(BACKEND_NAMES),
  z.strictObject({
    name,
    type: z.enum(BACKEND_NAMES),
    /** For `exec`: shell commands with {kernel} {initrd} {cmdline} placeholders; absent = not configured. */
    exec: z.strictObject({ start: z.string().min(1) }).nullish(),
    note: z.string().optional(),
  }),
]);

const trigger = z.discriminatedUnion("mode", [
  /** The paper's mode: armed on the kernel command line, fires N seconds after the agent is READY. */
  z.strictObject({ mode: z.literal("boot-delay"), delaySeconds: z.number().min(0).max(3600) }),
  /** Sent to the agent over the console once it heartbeats, fires at once (or after delaySeconds). */
  z.strictObject({ mode: z.literal("command"), delaySeconds: z.number().min(0).max(3600).default(0) }),
]);

/** A soft error: `flips` seeded runs, each one bit flipped in the target (QEMU's gdbstub). */
const bitflip = z.strictObject({
  name: z.literal("bitflip"),
  target: z.enum(SOFT_TARGETS),
  flips: z.number().int().min(1).max(100_000),
  /** Target `registers`: this register only (the seed picks the bit unless `bit` is given). */
  register: z.enum(FLIP_REGISTER_NAMES).optional(),
  bit: z.number().int().min(0).max(63).optional(),
});

const fault = z.union([
  z.enum(FAULT_NAMES),
  // The name picks the shape, so a bit flip's mistakes are reported against its own fields.
  z.discriminatedUnion("name", [
    bitflip,
    z.strictObject({ name: z.enum(FAULT_NAMES).exclude(["bitflip"]), trigger: trigger.optional() }),
  ]),
]);

const timeouts = z
  .strictObject({
    /** Whole run, parent of every other deadline. */
    runSeconds: z.number().positive().default(180),
    bootSeconds: z.number().positive().default(90),
    /** How long to watch after the fault fired (or, for a control run, after READY). */
    observeSeconds: z.number().positive().default(30),
    controlObserveSeconds: z.number().positive().default(3),
    /** Heartbeat loss = no heartbeat for this many intervals. */
    heartbeatMissIntervals: z.number().int().min(2).max(1000).default(8),
    /** After detection, keep reading this long for trailing console output. */
    graceSeconds: z.number().min(0).default(0.5),
    probeSeconds: z.number().positive().default(15),
  })
  .prefault({})
  .superRefine((t, ctx) => {
    // A child deadline never outlives its parent: every step fits inside the run's own deadline.
    for (const key of ["bootSeconds", "observeSeconds", "controlObserveSeconds", "probeSeconds"] as const) {
      if (t[key] > t.runSeconds) {
        ctx.addIssue({
          code: "custom",
          path: [key],
          message: `${key} (${t[key]}) is larger than its parent runSeconds (${t.runSeconds})`,
        });
      }
    }
  });

/** Adaptive stopping: a cell stops once its host-failure bound is below the target (29 clean runs for 10%). */
const until = z.strictObject({
  maxFailureRate: z.number().gt(0).lt(1),
  confidence: z.number().gt(0.5).lt(1).default(0.95),
  maxRuns: z.number().int().min(1).max(100_000),
});

const campaignFields = z.strictObject({
  name,
  description: z.string().optional(),
  repetitions: z.number().int().min(1).max(100_000).default(5),
  backends: z.array(backendEntry).min(1),
  faults: z.array(fault).min(1),
  guest: z
    .strictObject({
      memoryMb: z.number().int().min(128).max(65_536).default(256),
      heartbeatMs: z.number().int().min(10).max(60_000).default(250),
      /** Debian's kernel only oopses on a divide error in process context unless booted with oops=panic. */
      oopsPanic: z.boolean().default(true),
      /** `snapshot`: boot once, save the booted guest, start every run from it (backends that can); `fresh`: boot each run. */
      boot: z.enum(["snapshot", "fresh"]).default("snapshot"),
      kernelArgs: z
        .array(z.string().regex(/^[^\s"']+$/, "one kernel argument without spaces or quotes"))
        .default([]),
    })
    .prefault({}),
  timeouts,
  /**
   * Healthy enclaves of the same backend run beside each faulty one, their heartbeats watched: one that
   * dies or stalls makes the verdict escaped-global or contained-varied. Such runs have the host alone.
   */
  bystanders: z.number().int().min(0).max(8).default(0),
  until: until.optional(),
  /** Infra-errors: tries per run, and how many runs in a row may end in infra-error before the host is quarantined. */
  infra: z
    .strictObject({
      retries: z.number().int().min(0).max(10).default(1),
      quarantineAfter: z.number().int().min(1).max(1000).default(3),
    })
    .prefault({}),
  /** Where results go, relative to the campaign file's directory (default: results/<name> in the current one). */
  results: z.string().optional(),
  /**
   * Composed cells (a victim, its peers and the links between them): when present, the campaign runs
   * these cells × its faults, each with its control runs, instead of its backends × faults.
   */
  cells: z.array(cellEntry).max(64).optional(),
});

type Fields = z.output<typeof campaignFields>;

/** Two backends of one name would share run keys: the second's runs would never happen. */
function checkBackendNames(c: Fields, ctx: z.RefinementCtx): void {
  const seen = new Map<string, number>();
  c.backends.forEach((b, i) => {
    const name = typeof b === "string" ? b : b.name;
    const first = seen.get(name);
    if (first === undefined) seen.set(name, i);
    else
      ctx.addIssue({
        code: "custom",
        path: typeof b === "string" ? ["backends", i] : ["backends", i, "name"],
        message: `backend name '${name}' is already used by backends[${first}]: each backend needs its own name`,
      });
    if (typeof b !== "string" && b.exec && b.type !== "exec")
      ctx.addIssue({
        code: "custom",
        path: ["backends", i, "exec"],
        message: `only a backend of type exec runs commands; this one is type '${b.type}'`,
      });
  });
}

/** The same fault twice gives the same run keys; a trigger past the run's deadline can never fire. */
function checkFaults(c: Fields, ctx: z.RefinementCtx): void {
  const seen = new Map<string, number>();
  const { runSeconds, observeSeconds } = c.timeouts;
  c.faults.forEach((f, i) => {
    const key = JSON.stringify(typeof f === "string" ? { name: f } : f);
    const first = seen.get(key);
    if (first === undefined) seen.set(key, i);
    else ctx.addIssue({ code: "custom", path: ["faults", i], message: `the same fault as faults[${first}]` });
    if (f === "bitflip" || (typeof f !== "string" && "target" in f)) {
      checkBitflip(f, i, ctx);
      return;
    }
    if (typeof f === "string" || f.name === "none" || !f.trigger) return;
    if (f.trigger.delaySeconds + observeSeconds > runSeconds)
      ctx.addIssue({
        code: "custom",
        path: ["faults", i, "trigger", "delaySeconds"],
        message:
          `the fault would fire ${f.trigger.delaySeconds} s after READY, outside the observation window: ` +
          `the run's deadline (timeouts.runSeconds ${runSeconds}) less the observation ` +
          `(timeouts.observeSeconds ${observeSeconds}) leaves at most ${runSeconds - observeSeconds} s`,
      });
  });
}

/** A bit flip names its target and count; a register or bit fits the target and the register's width. */
function checkBitflip(f: Fields["faults"][number], i: number, ctx: z.RefinementCtx): void {
  if (typeof f === "string" || !("target" in f)) {
    ctx.addIssue({
      code: "custom",
      path: ["faults", i],
      message: "bitflip needs its target and count: { name: bitflip, target: data|registers, flips: N }",
    });
    return;
  }
  if (f.target !== "registers" && (f.register !== undefined || f.bit !== undefined))
    ctx.addIssue({
      code: "custom",
      path: ["faults", i, f.register !== undefined ? "register" : "bit"],
      message: "register and bit apply to target registers only",
    });
  if (f.bit !== undefined && f.register === "eflags" && f.bit > 31)
    ctx.addIssue({ code: "custom", path: ["faults", i, "bit"], message: "eflags has bits 0-31" });
}

/** A campaign file's schema: its fields, then the combinations of them that could never run. */
export const campaignSchema = campaignFields.superRefine((c, ctx) => {
  checkBackendNames(c, ctx);
  checkFaults(c, ctx);
  checkCells(c, ctx);
});

export type CampaignConfig = z.output<typeof campaignSchema>;
export type TriggerConfig = z.output<typeof trigger>;
