/** `npm run bench -- <name> [args]`: runs one benchmark from bench/ (long campaigns live here, not in tests). */
const BENCHES: Record<string, string> = {
  jobs: "./jobs.js",
  "fast-runs": "./fast-runs.js",
  "slow-reader": "./slow-reader.js",
  "idle-cpu": "./idle-cpu.js",
  "monitor-soak": "./monitor-soak.js",
  bitflip: "./bitflip.js",
  "disposable-host": "./disposable-host.js",
};

const [name, ...rest] = process.argv.slice(2);
const target = name ? BENCHES[name] : undefined;
if (!target) {
  console.error(`usage: npm run bench -- <${Object.keys(BENCHES).join("|")}> [args]`);
  process.exitCode = 2;
} else {
  process.argv = [process.argv[0] as string, target, ...rest];
  await import(target);
}
