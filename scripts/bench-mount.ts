// npm run bench (second part): what the mount costs. For generated machines of 1k and 10k
// devices, the same workloads (find, ls -lR, reading every readable file, the group-listing
// loop) run on the iommufs mount, on an `iommufs export` of the same tree on tmpfs (the
// floor without FUSE), and on a bare fuse-native server of that static tree (the floor
// with FUSE but without the sysfs and engine layers); plus start-up time and RSS.
//
// Everything that touches a mount served by this process runs in child processes, since
// the FUSE server answers on this process's event loop.

import { execFile, spawn } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { mountFuse } from '../src/fuse/fuse-binding';
import { StaticLink, staticOps } from './bench-bare-fuse';
import type { StaticDir } from './bench-bare-fuse';
import { generateMachineYaml } from './generate-machine';

const exec = promisify(execFile);
const CLI = join(__dirname, '..', 'src', 'cli', 'main.js');

const WORKLOADS: Record<string, (root: string) => string> = {
  find: (r) => `find ${r} > /dev/null`,
  'ls -lR': (r) => `ls -lR ${r} > /dev/null`,
  'read all': (r) => `find ${r} -type f -perm -0444 -print0 | xargs -0 cat > /dev/null 2>&1; true`,
  'group loop': (r) =>
    `for g in ${r}/kernel/iommu_groups/*; do echo "IOMMU Group \${g##*/}:"; for d in $g/devices/*; do echo "$(readlink -f $d) $(cat $d/vendor $d/device)"; done; done > /dev/null`,
};

/** Wall time of a workload in ms; NaN when it did not finish within five minutes. */
async function time(script: string): Promise<number> {
  const t0 = performance.now();
  try {
    await exec('timeout', ['300', 'bash', '-c', script], { maxBuffer: 1 << 26 });
  } catch {
    return NaN;
  }
  return performance.now() - t0;
}

async function runAll(root: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [name, w] of Object.entries(WORKLOADS)) out[name] = await time(w(root));
  return out;
}

function staticFromDisk(path: string): StaticDir {
  const dir: StaticDir = {};
  for (const name of readdirSync(path)) {
    const p = join(path, name);
    const st = lstatSync(p);
    if (st.isSymbolicLink()) dir[name] = new StaticLink(readlinkSync(p));
    else if (st.isDirectory()) dir[name] = staticFromDisk(p);
    else dir[name] = readFileSync(p);
  }
  return dir;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function mountDaemon(topology: string, mnt: string): Promise<{ stop: () => Promise<void>; startMs: number; rss: number }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [CLI, 'mount', topology, mnt], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes(`mounted ${mnt}`)) resolve();
    });
    child.on('exit', (code) => reject(new Error(`mount exited ${code}`)));
  });
  const startMs = performance.now() - t0;
  const rss = rssMb(child.pid!);
  const stop = async (): Promise<void> => {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  };
  return { stop, startMs, rss };
}

async function bench(devices: number): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'iommufs-bench-'));
  const shm = mkdtempSync(join('/dev/shm', 'iommufs-bench-'));
  const topology = join(work, `generated-${devices}.yaml`);
  writeFileSync(topology, generateMachineYaml(devices));
  const mnt = join(work, 'mnt');
  const exportDir = join(shm, 'sys');
  try {
    const daemon = await mountDaemon(topology, mnt);
    let onMount: Record<string, number>;
    try {
      onMount = await runAll(mnt);
    } finally {
      await daemon.stop();
    }
    await exec(process.execPath, [CLI, 'export', topology, exportDir], { maxBuffer: 1 << 26 });
    const onExport = await runAll(exportDir);
    const bareMnt = join(work, 'bare');
    const handle = await mountFuse(bareMnt, staticOps(staticFromDisk(exportDir)));
    let onBare: Record<string, number>;
    try {
      onBare = await runAll(bareMnt);
    } finally {
      await handle.unmount();
    }
    console.log(`\n${devices} devices: start-up to "mounted" ${daemon.startMs.toFixed(0)} ms, daemon RSS ${daemon.rss.toFixed(0)} MB`);
    console.log('workload      iommufs(ms)  bare-fuse(ms)  export(ms)  iommufs/bare  iommufs/export');
    for (const name of Object.keys(WORKLOADS)) {
      const a = onMount[name]!;
      const b = onBare[name]!;
      const c = onExport[name]!;
      const ms = (x: number): string => (Number.isNaN(x) ? '>300000' : x.toFixed(0));
      const ratio = (x: number, y: number): string => (Number.isNaN(x) || Number.isNaN(y) ? '-' : (x / y).toFixed(2));
      console.log(`${name.padEnd(12)} ${ms(a).padStart(12)} ${ms(b).padStart(14)} ${ms(c).padStart(11)} ${ratio(a, b).padStart(13)} ${ratio(a, c).padStart(15)}`);
    }
  } finally {
    rmSync(shm, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
}

/** A PF on the root bus whose 256 possible VFs start on bus 01 (offset 240), and a NIC to bind. */
const WRITES_TOPOLOGY = `version: 1
cmdline: intel_iommu=on
iommus: [{ name: dmar0, type: intel-vtd }]
pci:
  - bus: 0
    devices:
      "00.0": { id: 8086:29c0, class: 0x060000, type: host-bridge }
      "02.0": { id: 15b3:1017, class: 0x020000, driver: mlx5_core, sriov: { total: 256, offset: 240, stride: 1, vf-id: 15b3:1018, vf-driver: mlx5_core } }
      "03.0": { id: 8086:10d3, class: 0x020000, driver: e1000e }
`;

async function benchWrites(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'iommufs-bench-'));
  const topology = join(work, 'writes.yaml');
  writeFileSync(topology, WRITES_TOPOLOGY);
  const mnt = join(work, 'mnt');
  const daemon = await mountDaemon(topology, mnt);
  try {
    const pf = `${mnt}/bus/pci/devices/0000:00:02.0`;
    console.log('\nwrites');
    for (const n of [64, 256]) {
      const ms = await time(`echo ${n} > ${pf}/sriov_numvfs && [ $(ls ${mnt}/bus/pci/devices | wc -l) -eq ${3 + n} ]`);
      console.log(`sriov_numvfs=${n} until the VFs are listed: ${ms.toFixed(0)} ms`);
      await time(`echo 0 > ${pf}/sriov_numvfs`);
    }
    const rounds = 200;
    const drv = `${mnt}/bus/pci/drivers/e1000e`;
    const ms = await time(`for i in $(seq ${rounds}); do echo 0000:00:03.0 > ${drv}/unbind; echo 0000:00:03.0 > ${drv}/bind; done`);
    console.log(`bind/unbind round trips: ${((rounds * 1000) / ms).toFixed(0)} per second (${rounds} in ${ms.toFixed(0)} ms, one shell)`);
  } finally {
    await daemon.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === 'writes') return benchWrites();
  for (const n of process.argv.slice(2).map(Number).filter((x) => x > 0).concat(process.argv.length > 2 ? [] : [1000, 10000])) await bench(n);
  await benchWrites();
}

void main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
