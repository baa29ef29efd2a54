// A small hand-built SysfsTree for the FUSE adapter's tests, independent of the
// engine: every attribute reads or records plain state the test can look at and
// change. Run as a program (`node fixtures-tree.js serve <mnt>`) it serves the tree
// in a child process and prints `mounted <mnt>`, as the CLI's mount does.

import { Errno } from '../../src/engine/errno';
import { untrackedTree, type AttrNode, type DirNode, type LinkNode, type Node, type SysfsTree } from '../../src/sysfs/node';

export interface Write {
  value: string;
  offset: number;
}

export interface FixtureState {
  /** What `driver_override` shows; set by its store. */
  override: string;
  /** Every store to driver_override, unbind and remove, in order, by attribute name. */
  writes: Array<Write & { attr: string }>;
  /** What `volatile` shows; tests change it between reads. */
  volatile: string;
  /** Whether the device's `driver` link and the driver's device link exist. */
  bound: boolean;
  /** The 256 bytes of `config`. */
  config: Buffer;
  /** How many times `counter` has been shown. */
  shows: number;
}

export interface Fixture {
  tree: SysfsTree;
  state: FixtureState;
}

export const BDF = '0000:00:02.0';
export const DEVICE_DIR = `devices/pci0000:00/${BDF}`;

function dir(entries: () => Array<[string, Node]>): DirNode {
  return {
    kind: 'dir',
    mode: 0o755,
    list: () => entries().map(([name]) => name),
    lookup: (name) => entries().find(([n]) => n === name)?.[1],
    subdirCount: () => entries().filter(([, n]) => n.kind === 'dir').length,
  };
}

const link = (target: string): LinkNode => ({ kind: 'link', target });

function text(show: () => string, mode = 0o444, store?: (value: string, offset: number) => void): AttrNode {
  const node: AttrNode = { kind: 'attr', mode, size: 4096, show: () => Buffer.from(show()) };
  if (store !== undefined) node.store = (data, offset) => store(data.toString('latin1'), offset);
  return node;
}

export function buildFixture(): Fixture {
  const config = Buffer.alloc(256);
  for (let i = 0; i < config.length; i++) config[i] = i;
  const state: FixtureState = { override: '(null)', writes: [], volatile: 'first', bound: true, config, shows: 0 };
  const record = (attr: string) => (value: string, offset: number) => state.writes.push({ attr, value, offset });

  const driverOverride = text(() => `${state.override}\n`, 0o644, (value, offset) => {
    const v = value.replace(/\n$/, '');
    if (v === 'bad') throw new Errno('EINVAL', `driver_override: "${v}" refused`);
    record('driver_override')(value, offset);
    state.override = v === '' || v === '\0' ? '(null)' : v;
  });
  const configAttr: AttrNode = {
    kind: 'attr',
    mode: 0o644,
    size: 256,
    show: () => Buffer.from(state.config),
    store: (data, offset) => {
      if (offset >= state.config.length) throw new Errno('EINVAL', 'config: write past the end');
      data.copy(state.config, offset, 0, Math.min(data.length, state.config.length - offset));
    },
  };
  const crash = text(() => 'crash\n', 0o644, () => {
    throw new TypeError('simulated bug in a store');
  });
  const counter = text(() => `show-${String(++state.shows).padStart(4, '0')}\n`);

  const device = dir(() => [
    ['vendor', text(() => '0x8086\n')],
    ['class', text(() => '0x020000\n')],
    ['driver_override', driverOverride],
    ['remove', text(() => '', 0o200, record('remove'))],
    ['config', configAttr],
    ['volatile', text(() => `${state.volatile}\n`)],
    ['counter', counter],
    ['crash', crash],
    ['power', dir(() => [['control', text(() => 'on\n', 0o644, record('control'))]])],
    ['iommu_group', link('../../../kernel/iommu_groups/0')],
    ...(state.bound ? ([['driver', link('../../../bus/pci/drivers/igb')]] as Array<[string, Node]>) : []),
  ]);
  const igb = dir(() => [
    ['bind', text(() => '', 0o200, record('bind'))],
    ['unbind', text(() => '', 0o200, record('unbind'))],
    ...(state.bound ? ([[BDF, link(`../../../../devices/pci0000:00/${BDF}`)]] as Array<[string, Node]>) : []),
  ]);
  const devLink = (ups: number): LinkNode => link(`${'../'.repeat(ups)}devices/pci0000:00/${BDF}`);
  const groups = dir(() => [
    ['0', dir(() => [['devices', dir(() => [[BDF, devLink(4)]])]])],
    ['1', dir(() => [['devices', dir(() => [])]])],
  ]);
  const pci = dir(() => [
    ['devices', dir(() => [[BDF, devLink(3)]])],
    ['drivers', dir(() => [['igb', igb]])],
  ]);
  const root = dir(() => [
    ['devices', dir(() => [['pci0000:00', dir(() => [[BDF, device]])]])],
    ['bus', dir(() => [['pci', pci]])],
    ['kernel', dir(() => [['iommu_groups', groups]])],
  ]);
  return { tree: untrackedTree(root), state };
}

async function serve(mnt: string): Promise<void> {
  // Imported here so that tests importing the tree do not load fuse-native.
  const { mountSysfs, unmountOnSignals } = await import('../../src/fuse');
  const handle = await mountSysfs(buildFixture().tree, mnt);
  unmountOnSignals(handle, ({ error }) => {
    if (error !== undefined) process.stderr.write(`unmount failed: ${String(error)}\n`);
    process.exit(error === undefined ? 0 : 1);
  });
  process.stdout.write(`mounted ${handle.mountpoint}\n`);
}

if (require.main === module) {
  const [command, mnt] = process.argv.slice(2);
  if (command !== 'serve' || mnt === undefined) {
    process.stderr.write('usage: fixtures-tree.js serve <mountpoint>\n');
    process.exit(2);
  }
  serve(mnt).catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
