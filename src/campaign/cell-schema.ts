/**
 * The `cells:` block of a campaign: composed cells, each a victim enclave, its peers and the links between
 * them, with the links toggled on and off (and cgroup limits) so one fault is compared with and without
 * each. Checked before anything runs: every problem names its path in the file.
 */
import { z } from "zod";
import type { BackendName } from "../backends/index.js";
import { linkRefusal } from "../backends/link-support.js";

export const LINK_KINDS = ["network", "shared-storage", "depends-on"] as const;

/** Names a cell gives its enclaves; `victim` and `host` are the cell's own words. */
const enclaveName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,30}$/, "a name of lower-case letters, digits and '-' (at most 31)");

const backendName = z.string().min(1);

/** One composed cell: `victim` and every peer's `backend` name an entry of the campaign's `backends`. */
export const cellEntry = z.strictObject({
  name: enclaveName,
  victim: backendName,
  peers: z
    .array(z.strictObject({ name: enclaveName, backend: backendName }))
    .max(4)
    .default([]),
  links: z
    .array(z.strictObject({ kind: z.enum(LINK_KINDS), from: enclaveName, to: enclaveName }))
    .max(16)
    .default([]),
  /** Link kinds whose links are run both enabled and disabled (the comparison "does this link matter?"). */
  toggles: z.array(z.enum(LINK_KINDS)).default([]),
  /** cgroup limits on every enclave of the cell: on, off, or both (a hog's toggle). */
  limits: z.union([z.boolean(), z.literal("both")]).default(false),
});

export type CellConfig = z.output<typeof cellEntry>;

/** What the cell checks need of the campaign: its backends (name → type) and its cells. */
interface CellsInput {
  backends: (BackendName | { name: string; type: BackendName })[];
  cells?: CellConfig[];
}

/** The problems of a campaign's cells, reported on the issue's path in the file. */
export function checkCells(c: CellsInput, ctx: z.RefinementCtx): void {
  const types = new Map(c.backends.map((b) => (typeof b === "string" ? [b, b] : [b.name, b.type])));
  const cells = c.cells ?? [];
  const names = new Map<string, number>();
  const shapes = new Map<string, number>();
  cells.forEach((cell, i) => {
    const at = (...path: (string | number)[]) => ["cells", i, ...path];
    const issue = (path: (string | number)[], message: string) =>
      ctx.addIssue({ code: "custom", path, message });
    const first = names.get(cell.name);
    if (first !== undefined) issue(at("name"), `cell name '${cell.name}' is already used by cells[${first}]`);
    else names.set(cell.name, i);
    // Cells with the same enclaves and links share run keys: the second's runs would never happen.
    const shape = JSON.stringify({ ...cell, name: "" });
    const same = shapes.get(shape);
    if (same !== undefined) issue(at(), `the same enclaves, links and toggles as cells[${same}]`);
    else shapes.set(shape, i);
    checkEnclaves(cell, types, at, issue);
    checkLinks(cell, types, at, issue);
  });
}

type At = (...path: (string | number)[]) => (string | number)[];
type IssueFn = (path: (string | number)[], message: string) => void;

function checkEnclaves(cell: CellConfig, types: Map<string, BackendName>, at: At, issue: IssueFn): void {
  const known = [...types.keys()].join(", ");
  if (!types.has(cell.victim))
    issue(at("victim"), `'${cell.victim}' is not a backend of this campaign (backends: ${known})`);
  const seen = new Map<string, number>();
  cell.peers.forEach((p, j) => {
    if (p.name === "victim" || p.name === "host")
      issue(
        at("peers", j, "name"),
        `'${p.name}' names the cell's ${p.name} itself: give the peer another name`,
      );
    const first = seen.get(p.name);
    if (first !== undefined)
      issue(at("peers", j, "name"), `peer name '${p.name}' is already used by peers[${first}]`);
    else seen.set(p.name, j);
    if (!types.has(p.backend))
      issue(
        at("peers", j, "backend"),
        `'${p.backend}' is not a backend of this campaign (backends: ${known})`,
      );
  });
}

function checkLinks(cell: CellConfig, types: Map<string, BackendName>, at: At, issue: IssueFn): void {
  const backendOf = new Map<string, string>([
    // A peer wrongly named "victim" (reported above) must not hide the victim's own backend.
    ...cell.peers.map((p) => [p.name, p.backend] as const),
    ["victim", cell.victim],
  ]);
  const enclaves = [...backendOf.keys()].join(", ");
  const seen = new Map<string, number>();
  cell.links.forEach((l, j) => {
    for (const end of ["from", "to"] as const) {
      const backend = backendOf.get(l[end]);
      if (backend === undefined) {
        issue(at("links", j, end), `'${l[end]}' is not an enclave of this cell (enclaves: ${enclaves})`);
        continue;
      }
      const type = types.get(backend);
      const refusal = type ? linkRefusal(type, l.kind) : null;
      if (refusal)
        issue(at("links", j, end), `a ${l.kind} link cannot reach '${l[end]}' (${backend}): ${refusal}`);
    }
    if (l.from === l.to)
      issue(at("links", j, "to"), `a link joins two enclaves; this one joins '${l.from}' to itself`);
    const key = `${l.kind} ${l.from} ${l.to}`;
    const first = seen.get(key);
    if (first !== undefined) issue(at("links", j), `the same link as links[${first}]`);
    else seen.set(key, j);
  });
  const toggled = new Set<string>();
  cell.toggles.forEach((kind, j) => {
    if (toggled.has(kind)) issue(at("toggles", j), `'${kind}' is toggled twice`);
    toggled.add(kind);
    if (!cell.links.some((l) => l.kind === kind))
      issue(
        at("toggles", j),
        `the cell has no ${kind} link to toggle (links: ${cell.links.map((l) => l.kind).join(", ") || "none"})`,
      );
  });
}
