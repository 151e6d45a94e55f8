import type { Backend } from "../backends/backend.js";
import { type FaultName, faultSpec } from "../faults/catalogue.js";
import type { EnclavePrivileges, HostPlacement } from "../model/run-params.js";
import type { HostChoice, PrivilegeChoice } from "./schema.js";

/** Where one cell's enclave runs and with which privileges; absent fields keep older runs' keys. */
export interface PlacementVariant {
  host?: HostPlacement;
  privileges?: EnclavePrivileges;
}

/** A backend entry's placement choices, as the campaign gives them. */
export interface PlacementChoice {
  type: string;
  host?: HostChoice;
  privileges?: PrivilegeChoice;
}

/**
 * The cells one (backend entry, fault) pair makes, or why the backend refuses it. `host: auto` puts a
 * cell on the real host when the backend takes it there and the fault runs there as a user would run
 * it, else in the disposable host; `privileges: both` makes two cells of a zone-3 fault (the one kind
 * whose reach they change) and one, with the backend's default, of every other. (Pure.)
 */
export function placementVariants(
  backend: Backend,
  entry: PlacementChoice,
  fault: FaultName,
  flipTarget?: string,
): { variants: PlacementVariant[] } | { refused: string } {
  const spec = faultSpec(fault);
  const host = placement(backend, entry, fault, flipTarget);
  if ("refused" in host) return host;
  const privileges: (EnclavePrivileges | undefined)[] =
    entry.privileges === "both"
      ? spec.zone === 3 && fault !== "none"
        ? ["privileged", "unprivileged"]
        : [undefined]
      : [entry.privileges];
  return {
    variants: privileges.map((p) => ({
      ...(host.host ? { host: host.host } : {}),
      ...(p ? { privileges: p } : {}),
    })),
  };
}

function placement(
  backend: Backend,
  entry: PlacementChoice,
  fault: FaultName,
  flipTarget: string | undefined,
): { host: HostPlacement | undefined } | { refused: string } {
  // A bit flip's support depends on its target (native flips data and registers only).
  const spec = flipTarget ? { ...faultSpec(fault), flipTarget } : faultSpec(fault);
  const onReal = backend.supports(spec);
  const inDisposable = backend.supports({ ...spec, placement: "disposable" });
  const choice = entry.host ?? "real";
  if (choice === "real") return onReal.supported ? { host: undefined } : { refused: onReal.reason };
  if (choice === "auto" && onReal.supported) {
    const userScale = spec.boundedOnRealHost === true && entry.type === "native" && inDisposable.supported;
    if (!userScale) return { host: undefined };
  }
  return inDisposable.supported ? { host: "disposable" } : { refused: inDisposable.reason };
}
