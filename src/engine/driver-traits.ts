// What each PCI driver does to the devices it binds, one record per driver: how it matches,
// whether it manages DMA itself, the DMA mask and interrupts its probe sets up, whether it
// enables the device, its power behaviour while bound, SR-IOV and mdev support, and the
// class devices it creates. Every rule elsewhere that depends on which driver is bound reads
// these records; no other file names a driver.
//
// Values marked [rec] are what the recordings show (test/fixtures/reference: writes.json
// after its writes, sriov.json); the others are the drivers' own source (Linux 6.1).

/** A class device a driver creates as a child of the PCI device (its directory there). */
export type ClassDeviceKind =
  /** net/<ifname>: register_netdev, named eth%d (dev_alloc_name: lowest free). */
  | 'net'
  /** ptp/ptp<N>: ptp_clock_register (a PHC), ida in drivers/ptp/ptp_clock.c. */
  | 'ptp'
  /** vfio-dev/vfio<N>: vfio_register_group_dev (drivers/vfio/vfio_main.c, vfio.device_ida). */
  | 'vfio-dev'
  /** nvme/nvme<N>: nvme_init_ctrl (drivers/nvme/host/core.c nvme_instance_ida). */
  | 'nvme'
  /** drm/card<N> and drm/renderD<128+N>: drm_dev_register's primary and render minors
   * (drivers/gpu/drm/drm_drv.c drm_minor_alloc, one idr range per minor type). */
  | 'drm-card'
  | 'drm-render'
  /** sound/card<N>: snd_card_new, the first free index (sound/core/init.c). */
  | 'sound'
  /** wakeup/wakeup<N>: a wakeup source (drivers/base/power/wakeup_stats.c, wakeup_ida). */
  | 'wakeup';

/** Where each kind of class device goes and how it is named: the directory under the PCI
 * device (also its /sys/class name), the name's prefix, and the first number. */
export const CLASS_DEVICE_NAMING: Record<ClassDeviceKind, { dir: string; prefix: string; first: number }> = {
  net: { dir: 'net', prefix: 'eth', first: 0 },
  ptp: { dir: 'ptp', prefix: 'ptp', first: 0 },
  'vfio-dev': { dir: 'vfio-dev', prefix: 'vfio', first: 0 },
  nvme: { dir: 'nvme', prefix: 'nvme', first: 0 },
  'drm-card': { dir: 'drm', prefix: 'card', first: 0 },
  'drm-render': { dir: 'drm', prefix: 'renderD', first: 128 },
  sound: { dir: 'sound', prefix: 'card', first: 0 },
  // Wakeup sources registered before any PCI driver loads (ACPI buttons, the RTC, serial
  // ports, ...): the first one a PCI driver makes is wakeup13 on the recorded QEMU machine
  // [rec: sriov.json, e1000e's wakeup/wakeup13].
  wakeup: { dir: 'wakeup', prefix: 'wakeup', first: 13 },
};

export interface DriverTraits {
  /** Matches PCIe ports by class and port type rather than by ID (pcieport). */
  matchesPorts: boolean;
  /** Its ID table is driver_override-only (PCI_DRIVER_OVERRIDE_DEVICE_VFIO). */
  overrideOnly: boolean;
  /** Drives no hardware of its own and keeps any device it is matched with (its probe never
   * fails on foreign hardware). */
  generic: boolean;
  /** driver_managed_dma: the kernel does not own the device's DMA (VFIO viability). */
  managesDma: boolean;
  /** dma_set_mask_and_coherent at probe: dma_mask_bits and consistent_dma_mask_bits. The mask
   * stays after unbind (device_unbind_cleanup does not reset it); null keeps what it was
   * (32 bits from pci_setup_device). */
  dmaMaskBits: number | null;
  /** Vectors its probe allocates, MSI-X where the device has it, else MSI (msi_irqs/<irq>,
   * the capability's Enable+ and INTx disabled); 0 leaves interrupts alone. */
  msiVectors: number;
  /** pci_enable_device + pci_set_master at probe, pci_disable_device at remove: `enable` 1 and
   * power state D0 while bound, `enable` 0 after. */
  enablesDevice: boolean;
  /** Lets the bound, unused device runtime-suspend to D3hot (vfio_pci_core_register_device:
   * pm_runtime_allow + put), resumed to D0 when it unbinds [rec: writes.json 03:00.0]. */
  idleD3hot: boolean;
  /** sriov_configure: `any` (pci-pf-stub's pci_sriov_configure_simple), `own` (the PF's own
   * driver, for hardware its ID table names), `none`. */
  sriovConfigure: 'any' | 'own' | 'none';
  /** Registers the device as an mdev parent when the topology gives it mdev types: every
   * hardware driver (the topology's `mdev` says the vendor driver offers them), no stub. */
  mdevParent: boolean;
  /** A probe that fails on hardware the driver cannot drive has already enabled the device
   * and set its DMA mask (e1000e_probe: pci_enable_device_mem and dma_set_mask_and_coherent
   * come before the hardware checks) [rec: sriov.json, virtio-net after `new_id 1af4 1041` to
   * e1000e: power_state D0, dma_mask_bits 64]. Other drivers' failed probes leave nothing. */
  failedProbeLeavesMask: boolean;
  /** device_wakeup_enable at probe (a wakeup/wakeup<N> source on a wakeup-capable device). */
  wakeupSource: boolean;
  /** What its probe registers below the device (a wakeup source is `wakeupSource`). */
  classDevices: readonly Exclude<ClassDeviceKind, 'wakeup'>[];
  /** The kernel module (KBUILD_MODNAME); null for built-in drivers. */
  module: string | null;
}

/** A hardware driver none of the records below describes: what most modern PCI drivers do. */
const HARDWARE_DEFAULT: Omit<DriverTraits, 'module'> = {
  matchesPorts: false,
  overrideOnly: false,
  generic: false,
  managesDma: false,
  dmaMaskBits: 64,
  msiVectors: 1,
  enablesDevice: true,
  idleD3hot: false,
  sriovConfigure: 'own',
  mdevParent: true,
  failedProbeLeavesMask: false,
  wakeupSource: false,
  classDevices: [],
};

/** Built-in drivers (x86) that register but bind nothing on the recorded machines. */
const BUILTIN_IDLE: Partial<DriverTraits> = { module: null, sriovConfigure: 'none' };

/** A stub: binds anything it is told to, touches nothing. */
const STUB: Partial<DriverTraits> = {
  generic: true,
  dmaMaskBits: null,
  msiVectors: 0,
  enablesDevice: false,
  sriovConfigure: 'none',
  mdevParent: false,
};

const TRAITS: Record<string, Partial<DriverTraits>> = {
  // drivers/pci/pcie/portdrv_pci.c: built in, driver_managed_dma; pcie_port_device_register
  // enables the port and its one MSI-X vector for the services [rec: msi_irqs/<n>, 0x0507];
  // no DMA mask of its own [rec: 32].
  pcieport: {
    module: null,
    matchesPorts: true,
    managesDma: true,
    dmaMaskBits: null,
    msiVectors: 1,
    sriovConfigure: 'none',
    mdevParent: false,
  },
  // drivers/vfio/pci/vfio_pci.c: override-only table, driver_managed_dma, no DMA mask, no
  // interrupts and no pci_enable_device until a user opens it, D3hot while idle [rec:
  // enable 0, power_state D3hot, PMCSR 0x0003, vfio-dev/vfio0]. enable_sriov=0 by default.
  'vfio-pci': { ...STUB, module: 'vfio_pci', overrideOnly: true, managesDma: true, idleD3hot: true, classDevices: ['vfio-dev'] },
  // drivers/pci/pci-stub.c: binds and does nothing; driver_managed_dma.
  'pci-stub': { ...STUB, module: 'pci_stub', managesDma: true },
  // drivers/pci/pci-pf-stub.c: probe does nothing; sriov_configure = pci_sriov_configure_simple.
  'pci-pf-stub': { ...STUB, module: 'pci_pf_stub', sriovConfigure: 'any' },
  // drivers/net/ethernet/intel/e1000e/netdev.c: 64-bit DMA, three MSI-X vectors (rx, tx,
  // other) on the 82574L, a PHC, eth%d, device_wakeup_enable [rec: writes.json after].
  e1000e: {
    module: 'e1000e',
    msiVectors: 3,
    sriovConfigure: 'none',
    failedProbeLeavesMask: true,
    wakeupSource: true,
    classDevices: ['net', 'ptp'],
  },
  // drivers/nvme/host/pci.c: 64-bit DMA, MSI-X admin + one I/O queue vector on one CPU
  // [rec: sriov.json, msi_irqs/28 and 29, nvme/nvme0]; sriov_configure.
  nvme: { module: 'nvme', msiVectors: 2, classDevices: ['nvme'] },
  // drivers/net/ethernet/intel/igb: 64-bit DMA, MSI-X (a queue vector and "other"), a PHC,
  // eth%d, wake-on-LAN; igbvf: MSI-X rx, tx, mailbox.
  igb: { module: 'igb', msiVectors: 2, wakeupSource: true, classDevices: ['net', 'ptp'] },
  igbvf: { module: 'igbvf', msiVectors: 3, sriovConfigure: 'none', classDevices: ['net'] },
  ixgbe: { module: 'ixgbe', msiVectors: 2, wakeupSource: true, classDevices: ['net', 'ptp'] },
  ixgbevf: { module: 'ixgbevf', msiVectors: 2, sriovConfigure: 'none', classDevices: ['net'] },
  // VFIO variant drivers (drivers/vfio/pci/mlx5, hisilicon): vfio-pci's behaviour with their
  // own ID tables, still flagged override-only.
  mlx5_vfio_pci: { ...STUB, module: 'mlx5_vfio_pci', overrideOnly: true, managesDma: true, idleD3hot: true, classDevices: ['vfio-dev'] },
  hisi_acc_vfio_pci: { ...STUB, module: 'hisi_acc_vfio_pci', overrideOnly: true, managesDma: true, idleD3hot: true, classDevices: ['vfio-dev'] },
  // Drivers that set no DMA mask and keep legacy INTx (no DMA of their own, or a 32-bit
  // controller): i2c-i801 and i2c-piix4, the thermal sensors, OHCI/EHCI.
  i801_smbus: { module: 'i2c_i801', dmaMaskBits: null, msiVectors: 0, sriovConfigure: 'none' },
  piix4_smbus: { module: 'i2c_piix4', dmaMaskBits: null, msiVectors: 0, sriovConfigure: 'none' },
  k10temp: { dmaMaskBits: null, msiVectors: 0, sriovConfigure: 'none' },
  intel_pch_thermal: { dmaMaskBits: null, msiVectors: 0, sriovConfigure: 'none' },
  'ehci-pci': { module: 'ehci_pci', dmaMaskBits: null, msiVectors: 0, sriovConfigure: 'none' },
  'ohci-pci': { module: 'ohci_pci', dmaMaskBits: null, msiVectors: 0, sriovConfigure: 'none' },
  // DRM drivers: a primary node, and a render node where the driver renders
  // (DRIVER_RENDER: i915, amdgpu, radeon, nouveau; not the display-only ast, mgag200,
  // bochs). The proprietary nvidia.ko registers no DRM device itself.
  i915: { module: 'i915', msiVectors: 1, classDevices: ['drm-card', 'drm-render'] },
  amdgpu: { module: 'amdgpu', msiVectors: 1, classDevices: ['drm-card', 'drm-render'] },
  radeon: { module: 'radeon', msiVectors: 1, classDevices: ['drm-card', 'drm-render'] },
  nouveau: { module: 'nouveau', msiVectors: 1, classDevices: ['drm-card', 'drm-render'] },
  ast: { module: 'ast', msiVectors: 0, classDevices: ['drm-card'] },
  mgag200: { module: 'mgag200', msiVectors: 0, classDevices: ['drm-card'] },
  'bochs-drm': { module: 'bochs', dmaMaskBits: null, msiVectors: 0, classDevices: ['drm-card'] },
  // sound/pci/hda/hda_intel.c: one sound card per controller, MSI.
  snd_hda_intel: { module: 'snd_hda_intel', classDevices: ['sound'] },
  // drivers/net/virtio_net.c binds the virtio device, not the PCI function: virtio-pci's
  // probe enables the function and its MSI-X vectors (config + one per queue).
  'virtio-pci': { module: 'virtio_pci', msiVectors: 3, sriovConfigure: 'none' },
};

/** Modules named differently from their driver (include/linux/module.h KBUILD_MODNAME). */
function defaultModule(name: string): string {
  return name.replace(/-/g, '_');
}

/** The traits of the driver called `name`; unknown names are hardware drivers (HARDWARE_DEFAULT). */
export function traitsFor(name: string, builtin = false): DriverTraits {
  const own = TRAITS[name];
  return {
    ...HARDWARE_DEFAULT,
    module: defaultModule(name),
    ...(builtin ? BUILTIN_IDLE : {}),
    ...own,
  };
}

/** The drivers every machine registers whatever its topology: the port driver and the stubs
 * VFIO users bind. */
export const ALWAYS_REGISTERED = ['pcieport', 'pci-stub', 'vfio-pci'] as const;

/** The drivers that bind VFIO's devices: /dev/vfio/<group> exists while one is bound. */
export function isVfioDriver(t: DriverTraits | undefined): boolean {
  return t?.classDevices.includes('vfio-dev') ?? false;
}
