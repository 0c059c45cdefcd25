/**
 * Preloaded into every process the chaos run spawns (`node -r orphan-guard.js …`):
 * if the chaos runner dies without cleaning up (Jest killed, Ctrl-C twice), its
 * children notice they were re-parented and exit instead of running forever
 * against a dropped database.
 */
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(3);
}, 1_000).unref();
