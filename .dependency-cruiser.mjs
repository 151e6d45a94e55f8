// The layers of src/ (docs/architecture.md), checked by `make test` (the `layers` npm script).
// A folder may import only the folders before it in LAYERS; report and perf sit side by side and import
// nothing from each other. Type-only imports count too (`tsPreCompilationDeps`): a type that points the
// wrong way ties the layers together as much as a value does.

/** The top-level folders of src/, lowest first, each with what keeps it below the ones after it. */
const LAYERS = [
  ["model", "model is the vocabulary and the pure verdict: it imports no other folder"],
  ["util", "util holds process, deadline, /proc and formatting helpers for every layer: only model below"],
  ["store", "store persists runs, artifacts and perf rows; it knows the model, not who writes or reads them"],
  ["host", "host probes the machine ezone runs on (health, orphans); it knows nothing of faults or runs"],
  ["faults", "faults is the catalogue (a fault, its zone, its proof); delivering one is the campaign's job"],
  ["guest", "guest builds the kernel, initramfs, agent and modules; it does not know who boots them"],
  ["backends", "backends start and stop enclaves; watching them and judging runs happen above"],
  ["monitor", "monitor reads one enclave's console and heartbeats; it does not schedule runs"],
  [
    "monitor-daemon",
    "the host-side syslog watchdog (rsyslogd, taps, violations): campaigns use it for guest.syslog, and `ezone monitor` runs it as a daemon",
  ],
  ["campaign", "campaign runs cells on this host, injection included; spreading and reporting are above"],
  ["cluster", "cluster spreads a campaign over hosts (Slurm shards, merge); reports read what it stored"],
  ["report", "report renders stored results; perf is its sibling (the CLI joins them): no import either way"],
  ["perf", "perf measures overhead and renders its table; report is its sibling: no import either way"],
  ["cli", "cli is the top: it may import every folder, and no folder imports it"],
];

/** Folders that sit side by side although LAYERS lists one before the other: neither imports the other. */
const SIBLINGS = [["report", "perf"]];

const NAMES = LAYERS.map(([name]) => name);

/** A path pattern for the given top-level folders of src/. */
const folders = (names) => `^src/(${names.join("|")})/`;

/** The rule of one layer: nothing in it imports a folder after it in LAYERS, nor its sibling. */
function layerRule([name, comment], index) {
  const siblings = SIBLINGS.flatMap((pair) => (pair.includes(name) ? pair.filter((n) => n !== name) : []));
  return {
    name: `layer-${name}`,
    comment,
    severity: "error",
    from: { path: folders([name]) },
    to: { path: folders([...new Set([...NAMES.slice(index + 1), ...siblings])]) },
  };
}

export default {
  forbidden: [
    // The last layer (cli) has nothing above it, so no rule.
    ...LAYERS.slice(0, -1).map(layerRule),
    {
      name: "layer-unknown",
      comment: "every folder of src/ has its place in LAYERS (and a row in docs/architecture.md)",
      severity: "error",
      from: { path: "^src/", pathNot: folders(NAMES) },
      to: {},
    },
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
