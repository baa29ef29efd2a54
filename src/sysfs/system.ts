// /sys/devices/system: the machine's CPUs and NUMA nodes (drivers/base/cpu.c, node.c,
// topology.c), and the CPU masks PCI devices report (pci-sysfs.c local_cpus_show,
// local_cpulist_show: the CPUs of the device's node, every CPU when it has none).
//
// The topology format describes NUMA placement (`numa-node` per device) but not CPUs, so
// the layout follows the nodes: one package per online node, in node order, with one CPU
// each (CPU i on the i-th node). lstopo (hwloc) then shows as many packages and NUMA
// nodes as the machine has, with each device under its node; without a cpu*/topology
// directory it aborts its Linux discovery (clients.md §1.2).

import type { Machine } from '../engine/machine';
import type { PciDevice } from '../engine/types';
import type { PciBus, PciFunction } from '../pci/enumerate';
import { dir, relLink, ro } from './build';
import type { Entries } from './build';
import type { DirNode } from './node';

/** Per online node, in node order: the CPUs on it. */
export function cpuLayout(m: Machine): Array<{ node: number; cpus: number[] }> {
  return [...m.onlineNodes()].sort((a, b) => a - b).map((node, i) => ({ node, cpus: [i] }));
}

/** lib/bitmap.c bitmap_print_to_pagebuf with a mask (%*pb): hex, 32-bit groups joined by
 * commas, nr_cpu_ids bits wide. */
export function cpuMask(cpus: number[], nrCpus: number): string {
  const words = Math.max(1, Math.ceil(nrCpus / 32));
  const out: string[] = [];
  for (let w = words - 1; w >= 0; w--) {
    let v = 0;
    for (const c of cpus) if (c >= w * 32 && c < (w + 1) * 32) v |= 1 << (c - w * 32);
    const width = w === words - 1 ? Math.ceil((nrCpus - w * 32) / 4) : 8;
    out.push((v >>> 0).toString(16).padStart(width, '0'));
  }
  return out.join(',');
}

/** The list form (%*pbl): ranges `a-b` joined by commas. */
export function cpuList(cpus: number[]): string {
  const sorted = [...cpus].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** The root bus a function sits below (a VF's virtual bus counts as its PF's). */
function rootBusOf(f: PciFunction): PciBus {
  let bus = f.physfn ? f.physfn.bus : f.bus;
  while (bus.parent) bus = bus.parent;
  return bus;
}

/**
 * The node whose CPUs are local to a device: its own `numa-node`, else its nearest
 * bridge's, else the one the other devices below its root bus name. Linux gives every
 * device its root bus's node (pci_device_add → set_dev_node(pcibus_to_node)), which the
 * firmware's _PXM sets for the host bridge; the topology says it per device.
 */
function localNode(m: Machine, d: PciDevice): number {
  if (d.numaNode >= 0) return d.numaNode;
  for (let b = d.fn.bus.bridge; b; b = b.bus.bridge) {
    const n = m.deviceOf(b)?.numaNode ?? -1;
    if (n >= 0) return n;
  }
  const root = rootBusOf(d.fn);
  return m.pciDevicesInOrder().find((o) => o.numaNode >= 0 && rootBusOf(o.fn) === root)?.numaNode ?? -1;
}

/** The CPUs local to a PCI device: its node's, or all when it has none (cpumask_of_pcibus). */
export function localCpus(m: Machine, d: PciDevice): number[] {
  const layout = cpuLayout(m);
  const node = localNode(m, d);
  const mine = layout.find((l) => l.node === node);
  return mine ? mine.cpus : layout.flatMap((l) => l.cpus);
}

export function localCpusText(m: Machine, d: PciDevice): { mask: string; list: string } {
  const cpus = localCpus(m, d);
  const nr = cpuLayout(m).reduce((n, l) => n + l.cpus.length, 0);
  return { mask: cpuMask(cpus, nr), list: cpuList(cpus) };
}

function cpuDir(m: Machine, cpu: number, node: number, packageIndex: number, siblings: number[]): DirNode {
  const nr = (): number => cpuLayout(m).reduce((n, l) => n + l.cpus.length, 0);
  const mask = (cpus: number[]): (() => string) => () => cpuMask(cpus, nr());
  // drivers/base/topology.c: each mask file with its _list twin.
  const masks: Entries = (
    [
      ['cluster_cpus', [cpu]],
      ['core_cpus', [cpu]],
      ['core_siblings', siblings],
      ['die_cpus', siblings],
      ['package_cpus', siblings],
      ['thread_siblings', [cpu]],
    ] as Array<[string, number[]]>
  ).flatMap(([name, cpus]): Entries => [
    [name, ro(mask(cpus))],
    [`${name}_list`, ro(() => cpuList(cpus))],
  ]);
  const ids: Entries = [
    ['cluster_id', ro(() => '0')],
    ['core_id', ro(() => '0')],
    ['die_id', ro(() => '0')],
    ['physical_package_id', ro(() => String(packageIndex))],
  ];
  const topology = dir(() => [...masks, ...ids].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
  const here = `devices/system/cpu/cpu${cpu}`;
  return dir(() => [
    [`node${node}`, relLink(here, `devices/system/node/node${node}`)],
    ['topology', topology],
  ]);
}

function cpusDir(m: Machine): DirNode {
  return dir((): Entries => {
    const layout = cpuLayout(m);
    const all = layout.flatMap((l) => l.cpus);
    const e: Entries = [];
    layout.forEach((l, i) => {
      for (const c of l.cpus) e.push([`cpu${c}`, cpuDir(m, c, l.node, i, l.cpus)]);
    });
    e.push(
      ['kernel_max', ro(() => '8191')],
      ['offline', ro(() => '')],
      ['online', ro(() => cpuList(all))],
      ['possible', ro(() => cpuList(all))],
      ['present', ro(() => cpuList(all))],
    );
    return e;
  }, 0o755, () => m.generation);
}

/** A node's meminfo (drivers/base/node.c node_read_meminfo): the lines hwloc reads. */
function meminfo(node: number): string {
  const kb = 16 * 1024 * 1024;
  return [`Node ${node} MemTotal:       ${kb} kB`, `Node ${node} MemFree:        ${kb} kB`, `Node ${node} MemUsed:               0 kB`].join('\n');
}

function nodesDir(m: Machine): DirNode {
  return dir((): Entries => {
    const layout = cpuLayout(m);
    const nodes = layout.map((l) => l.node);
    const nr = layout.reduce((n, l) => n + l.cpus.length, 0);
    const e: Entries = layout.map((l): Entries[number] => {
      const here = `devices/system/node/node${l.node}`;
      // node_read_distance: 10 to itself, 21 to the others (the ACPI SLIT default of two sockets).
      const distance = nodes.map((n) => (n === l.node ? '10' : '21')).join(' ');
      return [
        `node${l.node}`,
        dir(() => [
          ...l.cpus.map((c): Entries[number] => [`cpu${c}`, relLink(here, `devices/system/cpu/cpu${c}`)]),
          ['cpulist', ro(() => cpuList(l.cpus))],
          ['cpumap', ro(() => cpuMask(l.cpus, nr))],
          ['distance', ro(() => distance)],
          ['meminfo', ro(() => meminfo(l.node))],
        ]),
      ];
    });
    const list = cpuList(nodes);
    for (const name of ['has_cpu', 'has_memory', 'has_normal_memory', 'online', 'possible']) e.push([name, ro(() => list)]);
    return e;
  }, 0o755, () => m.generation);
}

export function systemDir(m: Machine): DirNode {
  return dir(() => [
    ['cpu', cpusDir(m)],
    ['node', nodesDir(m)],
  ]);
}
