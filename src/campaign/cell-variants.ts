import type { CompositionParams, LinkParams } from "../model/composition.js";
import type { CellConfig } from "./cell-schema.js";

/**
 * The compositions a cell expands into: every toggled link kind enabled and disabled, and `limits: both`
 * on and off, in a fixed order (all enabled first). Fields are built in key order: they hash into run keys.
 */
export function cellVariants(cell: CellConfig): CompositionParams[] {
  const limitsStates = cell.limits === "both" ? [false, true] : [cell.limits];
  let states: Set<string>[] = [new Set()];
  // Each toggled kind doubles the variants: first with it on, then with it off.
  for (const kind of cell.toggles) states = states.flatMap((off) => [off, new Set([...off, kind])]);
  return limitsStates.flatMap((limits) =>
    states.map(
      (off): CompositionParams => ({
        peers: cell.peers.map((p) => ({ name: p.name, backend: p.backend })),
        links: cell.links.map(
          (l): LinkParams => ({ kind: l.kind, from: l.from, to: l.to, enabled: !off.has(l.kind) }),
        ),
        limits,
      }),
    ),
  );
}
