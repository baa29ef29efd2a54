// kernel/debug/iommufs/load_module: one line `<module> [<param>=<value>...]`, what modprobe
// passes to init_module, where a parameter written `<module>.<param>=<value>` is an
// `options` line of modprobe.d for that module or one it pulls in (applied before the
// kernel command line's, which come before the plain ones: kmod's order). `<module>` may be
// a `pci:v...` modalias, as udev's kmod builtin passes it. ENOENT for an unknown module,
// EEXIST when loaded already, EINVAL for a bad value (nothing loaded).

import { Errno } from '../engine/errno';
import type { Machine } from '../engine/machine';
import { cString } from '../engine/sysfs-text';

export function loadModuleStore(m: Machine, raw: string): void {
  const words = cString(raw).trim().split(/\s+/).filter(Boolean);
  const [first, ...rest] = words;
  if (first === undefined) throw new Errno('EINVAL', 'load_module takes a module name');
  const name = first.startsWith('pci:') ? m.modules.resolveAlias(first) : first;
  if (name === undefined) throw new Errno('ENOENT', `no module for ${first}`);
  const args = new Map<string, string>();
  const config = new Map<string, string>();
  for (const w of rest) {
    const eq = w.indexOf('=');
    const key = eq < 0 ? w : w.slice(0, eq);
    const value = eq < 0 ? '' : w.slice(eq + 1);
    (key.includes('.') ? config : args).set(key, value);
  }
  m.modules.load(name, args, config);
}
