// npm run bench: load + group time and heap for generated machines, and how they grow.
// The loader takes its fast path here (topology/fast-yaml.ts): the generated files are valid.
// Times are wall clock; the CPU column is the process's CPU time for load + group, which
// other work on a shared machine disturbs far less.
import { performance } from 'node:perf_hooks';
import { Machine } from '../src/engine/machine';
import { loadTopology } from '../src/topology/load';
import { generateMachineYaml } from './generate-machine';

interface Run {
  devices: number;
  groups: number;
  loadMs: number;
  groupMs: number;
  cpuMs: number;
  heapMb: number;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function measure(devices: number): Run {
  const yaml = generateMachineYaml(devices);
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const c0 = cpuMs();
  const t0 = performance.now();
  const r = loadTopology(yaml, `generated-${devices}.yaml`);
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.line}:${e.col} ${e.path}: ${e.message}`).slice(0, 5).join('\n'));
  const t1 = performance.now();
  const m = Machine.boot(r.topology);
  const t2 = performance.now();
  const cpu = cpuMs() - c0;
  const heapMb = (process.memoryUsage().heapUsed - heapBefore) / 1048576;
  return { devices: m.devices.size, groups: m.groups.size, loadMs: t1 - t0, groupMs: t2 - t1, cpuMs: cpu, heapMb };
}

/** The fastest of a few runs: on a shared machine the other runs measure the neighbours. */
function best(devices: number, runs: number): Run {
  let out = measure(devices);
  for (let i = 1; i < runs; i++) {
    const r = measure(devices);
    if (r.loadMs + r.groupMs < out.loadMs + out.groupMs) out = r;
  }
  return out;
}

function main(): void {
  const sizes = [1000, 10000, 100000];
  console.log('devices  groups  load(ms)  group(ms)  total(ms)  cpu(ms)  us/device  heap(MB)   (best of 3 runs)');
  for (const n of sizes) {
    const r = best(n, 3);
    const total = r.loadMs + r.groupMs;
    console.log(
      `${String(r.devices).padStart(7)} ${String(r.groups).padStart(7)} ${r.loadMs.toFixed(1).padStart(9)} ${r.groupMs.toFixed(1).padStart(10)} ${total.toFixed(1).padStart(10)} ${r.cpuMs.toFixed(0).padStart(8)} ${((total * 1000) / r.devices).toFixed(2).padStart(10)} ${r.heapMb.toFixed(1).padStart(9)}`,
    );
  }
}

main();
