import type { Enclave, ProcessTracer } from "../backends/backend.js";
import type { ProcessFlip, ProcessFlipReport } from "../model/process-flip.js";
import {
  chooseFlip,
  type FlipRecord,
  type ParkedWorkload,
  SPIN_LOOP_BYTES,
  type SpinningWorkload,
} from "../model/soft-error.js";
import { workloadProcess } from "../monitor/soft-lines.js";
import { deadline } from "../util/deadline.js";
import { InfraError } from "../util/errors.js";
import type { RunState } from "./run-state.js";

/** The flipper attaches, flips and detaches in milliseconds; this bounds a stuck one (scaled). */
const PTRACE_MS = 10_000;

/** What the ptrace path needs from the gdbstub path's step: release the workload, wait for its loop. */
export interface WorkloadControl {
  /** Let the parked workload compute (`spin`: first spin in its loop, for a register flip). */
  go(spin: boolean): void;
  /** Wait for the workload's SOFT-SPIN line (an infra-error of `flip.spin` when it never comes). */
  spinning(): Promise<SpinningWorkload>;
}

/**
 * Native: flip the seeded bit in the workload's process by ptrace from the host (ezone's flipper): a bit
 * of its parked input at its virtual address (the same offset into the input as a gdbstub flip of the
 * same seed), or a register while it spins in its loop. The flipper reads the value back (the proof).
 */
export async function flipByPtrace(
  st: RunState,
  enclave: Enclave & ProcessTracer,
  parked: ParkedWorkload,
  control: WorkloadControl,
): Promise<FlipRecord> {
  const { plan } = st;
  const soft = plan.softError;
  if (!soft) throw new InfraError("flip.ptrace", "no flip planned");
  const proc = workloadProcess(st.monitor.console().data.toString("latin1"), plan.nonce);
  if (!proc)
    throw new InfraError("flip.parked", "the workload never printed SOFT-PROCESS (its pid and address)");
  const where = chooseFlip(soft.seed, soft, { physical: proc.input, length: parked.length });
  const signal = () => deadline(st.signal, PTRACE_MS * plan.backend.timeoutScale);
  if (where.kind === "memory") {
    const flip: ProcessFlip = { kind: "memory", pid: proc.pid, address: where.address, bit: where.bit };
    const report = await enclave.flipProcess(flip, signal());
    control.go(false);
    return record(soft.target, `virtual 0x${where.address.toString(16)} bit ${where.bit}`, report);
  }
  control.go(true);
  const spin = await control.spinning();
  const flip: ProcessFlip = {
    kind: "register",
    pid: proc.pid,
    register: where.register,
    bit: where.bit,
    loop: { start: spin.spin, end: spin.spin + SPIN_LOOP_BYTES },
    release: spin.release,
  };
  const report = await enclave.flipProcess(flip, signal());
  return record(soft.target, `${where.register} bit ${where.bit}`, report);
}

function record(target: FlipRecord["target"], where: string, r: ProcessFlipReport): FlipRecord {
  return { target, where, ...r, fired: r.readBack === r.written };
}
