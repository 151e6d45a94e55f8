import type { EnclaveEvent, EnclaveSpec } from "../backends/backend.js";

type Sink = (ev: EnclaveEvent) => void;

/** Dress one enclave of a run (by its role) before it starts: its cgroup, its syslog channel. */
export type Dress = (
  role: string,
  spec: EnclaveSpec,
  sink: Sink,
) => Promise<{ spec: EnclaveSpec; sink: Sink }>;
