// The layers of src/ (docs/architecture.md), checked by `make test` (the `layers` npm script).
// A folder may import only the folders before it in LAYERS; report and perf sit side by side and import
// nothing from each other. Type-only imports count too (`tsPreCompilationDeps`): a type that points the
// wrong way ties the layers together as much as a value does.

/** The top-level folders of src/, lowest first. */
const LAYERS = [
  "model",
  "util",
  "store",
  "host",
  "faults",
  "guest",
  "backends",
  "monitor",
  "campaign",
  "cluster",
  "report",
  "perf",
  "monitor-daemon",
  "cli",
];

/** A path pattern for the given top-level folders of src/. */
const folders = (names) => `^src/(${names.join("|")})/`;

/** One rule: nothing in folder `name` imports a folder after it in LAYERS, nor any of `siblings`. */
function layer(name, comment, siblings = []) {
  return {
    name: `layer-${name}`,
    comment,
    severity: "error",
    from: { path: folders([name]) },
    to: { path: folders([...LAYERS.slice(LAYERS.indexOf(name) + 1), ...siblings]) },
  };
}

export default {
  forbidden: [
    layer("model", "model is the vocabulary and the pure verdict: it imports no other folder"),
    layer(
      "util",
      "util holds process, deadline, /proc and formatting helpers for every layer: only model below",
    ),
    layer(
      "store",
      "store persists runs, artifacts and perf rows; it knows the model, not who writes or reads them",
    ),
    layer(
      "host",
      "host probes the machine ezone runs on (health, orphans); it knows nothing of faults or runs",
    ),
    layer(
      "faults",
      "faults is the catalogue (a fault, its zone, its proof); delivering one is the campaign's job",
    ),
    layer("guest", "guest builds the kernel, initramfs, agent and modules; it does not know who boots them"),
    layer("backends", "backends start and stop enclaves; watching them and judging runs happen above"),
    layer("monitor", "monitor reads one enclave's console and heartbeats; it does not schedule runs"),
    layer(
      "campaign",
      "campaign runs cells on this host, injection included; spreading and reporting are above",
    ),
    layer(
      "cluster",
      "cluster spreads a campaign over hosts (Slurm shards, merge); reports read what it stored",
    ),
    layer(
      "report",
      "report renders stored results; perf is its sibling (the CLI joins them): no import either way",
    ),
    layer(
      "perf",
      "perf measures overhead and renders its table; report is its sibling: no import either way",
      ["report"],
    ),
    layer("monitor-daemon", "the `ezone monitor` daemon builds on the layers below; only the CLI starts it"),
    {
      name: "no-cycle",
      comment: "modules import one another in one direction only, inside a folder as well as across folders",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "no-unresolvable",
      comment:
        "an import the checker cannot resolve could hide a forbidden one, so every import must resolve",
      severity: "error",
      from: { path: "^src/" },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
  },
};
