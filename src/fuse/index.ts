// Layer 5 assembled: a SysfsTree served at a mount point.

import type { SysfsTree } from '../sysfs/node';
import { SysfsFs, type SysfsFsOptions } from './adapter';
import { mountFuse, type BindingOptions, type MountHandle } from './fuse-binding';

export { SysfsFs } from './adapter';
export { mountFuse, type BindingOptions, type MountHandle } from './fuse-binding';
export { kernelOptions, type MountOptions } from './mount-options';
export { unmountOnSignals } from './signals';

export function mountSysfs(tree: SysfsTree, mnt: string, opts: BindingOptions = {}, fsOpts: SysfsFsOptions = {}): Promise<MountHandle> {
  return mountFuse(mnt, new SysfsFs(tree, fsOpts), opts);
}
