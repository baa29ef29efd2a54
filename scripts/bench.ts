// npm run bench: load + group time and heap for generated machines, and how they grow.
// The loader takes its fast path here (topology/fast-yaml.ts): the generated files are valid.
// Times are wall clock; the CPU column is the process's CPU time for load + group, which
// other work on a shared machine disturbs far less.
import { execFileSync } from 'node:child_process';
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

/** The fastest of a few runs, each in a fresh node process: a daemon loads and boots once, with
 * nothing compiled yet, and a second load in the same process would measure code that the
 * first one warmed up (or, after gc(), code V8 threw away). On a shared machine the slower
 * runs measure the neighbours. */
function best(devices: number, runs: number): Run {
  let out: Run | undefined;
  for (let i = 0; i < runs; i++) {
    const text = execFileSync(process.execPath, ['--expose-gc', __filename, '--one', String(devices)], { encoding: 'utf8' });
    const r = JSON.parse(text) as Run;
    if (!out || r.loadMs + r.groupMs < out.loadMs + out.groupMs) out = r;
  }
  return out!;
}

function main(): void {
  const one = process.argv.indexOf('--one');
  if (one >= 0) {
    process.stdout.write(JSON.stringify(measure(Number(process.argv[one + 1]))));
    return;
  }
  const sizes = [1000, 10000, 100000];
  console.log('devices  groups  load(ms)  group(ms)  total(ms)  cpu(ms)  us/device  heap(MB)   (best of 3 runs, each in a fresh process)');
  for (const n of sizes) {
    const r = best(n, 3);
    const total = r.loadMs + r.groupMs;
    console.log(
      `${String(r.devices).padStart(7)} ${String(r.groups).padStart(7)} ${r.loadMs.toFixed(1).padStart(9)} ${r.groupMs.toFixed(1).padStart(10)} ${total.toFixed(1).padStart(10)} ${r.cpuMs.toFixed(0).padStart(8)} ${((total * 1000) / r.devices).toFixed(2).padStart(10)} ${r.heapMb.toFixed(1).padStart(9)}`,
    );
  }
}

main();
