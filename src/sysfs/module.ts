// /sys/module: one directory per loaded loadable module (kernel/module/sysfs.c
// mod_sysfs_setup, kernel/params.c module_param_sysfs_setup), with the files 6.1 gives it:
// coresize, drivers/ (`pci:<driver>` links, drivers/base/module.c module_add_driver),
// holders/ (the modules using it), initsize, initstate, notes/, parameters/ (the
// parameters whose mode is not 0), refcnt, sections/, srcversion, taint, uevent.
// Built-in modules are not listed.

import { createHash } from 'node:crypto';
import type { Machine } from '../engine/machine';
import { dir, indexedDir, relLink, ro, rw, ueventTrigger } from './build';
import type { Entries } from './build';
import type { DirNode } from './node';

/** A stable stand-in for the MD4 of the module's sources that modpost writes. */
function srcversion(name: string): string {
  return createHash('sha256').update(name).digest('hex').slice(0, 23).toUpperCase();
}

export interface ProcModule {
  name: string;
  size: number;
  refcnt: number;
  holders: string[];
}

/** /proc/modules lines (kernel/module/procfs.c m_show), most recently loaded first: name,
 * size, refcnt, the holders each followed by a comma (or `-`), state, and the address (0
 * for readers without CAP_SYSLOG under kptr_restrict). */
export function procModulesText(m: Machine): string {
  return m.modules
    .list()
    .map((mod): ProcModule => ({ name: mod.name, size: m.modules.size(mod.name), refcnt: m.modules.refcount(mod.name), holders: m.modules.holders(mod.name) }))
    .map((p) => `${p.name} ${p.size} ${p.refcnt} ${p.holders.length > 0 ? p.holders.map((h) => `${h},`).join('') : '-'} Live 0x0000000000000000\n`)
    .join('');
}

function parametersDir(m: Machine, name: string): DirNode | undefined {
  const specs = Object.entries(m.modules.paramSpecs(name)).filter(([, s]) => s.mode !== 0);
  if (specs.length === 0) return undefined;
  return dir(() =>
    specs
      .sort((a, b) => (a[0] < b[0] ? -1 : 1))
      .map(([param, spec]): Entries[number] => {
        const show = (): string => m.modules.get(name)?.params.get(param) ?? spec.initial;
        return [param, spec.mode & 0o200 ? rw(show, (t) => m.modules.setParam(name, param, t), spec.mode) : ro(show, spec.mode)];
      }),
  );
}

function moduleEntryDir(m: Machine, name: string): DirNode {
  const here = `module/${name}`;
  const params = parametersDir(m, name);
  return dir((): Entries => {
    const e: Entries = [
      ['coresize', ro(() => String(m.modules.size(name)))],
      ['drivers', dir(() => m.modules.drivers(name).filter((d) => m.drivers.has(d)).map((d): Entries[number] => [`pci:${d}`, relLink(`${here}/drivers`, `bus/pci/drivers/${d}`)]))],
      ['holders', dir(() => m.modules.holders(name).map((h): Entries[number] => [h, relLink(`${here}/holders`, `module/${h}`)]))],
      ['initsize', ro(() => '0')],
      ['initstate', ro(() => 'live')],
      ['notes', dir(() => [])],
    ];
    if (params) e.push(['parameters', params]);
    e.push(
      ['refcnt', ro(() => String(m.modules.refcount(name)))],
      ['sections', dir(() => [])],
      ['srcversion', ro(() => srcversion(name))],
      ['taint', ro(() => '')],
      ['uevent', ueventTrigger()],
    );
    return e;
  });
}

export function moduleDir(m: Machine): DirNode {
  const nodes = new Map<string, DirNode>();
  return indexedDir({
    names: () => m.loadedModules(),
    lookup: (name) => {
      if (!m.modules.isLoaded(name) || name !== name.replace(/-/g, '_')) return undefined;
      let n = nodes.get(name);
      if (!n) {
        n = moduleEntryDir(m, name);
        nodes.set(name, n);
      }
      return n;
    },
    subdirs: () => m.loadedModules().length,
  });
}
