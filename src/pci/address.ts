// One canonical form for PCI addresses: "SSSS:BB:DD.F" (the kernel's pci_name(), dev_set_name
// in drivers/pci/probe.c pci_setup_device: "%04x:%02x:%02x.%d").

export function devfnOf(slot: number, fn: number): number {
  return ((slot & 0x1f) << 3) | (fn & 0x7);
}

export function slotOf(devfn: number): number {
  return devfn >> 3;
}

export function fnOf(devfn: number): number {
  return devfn & 7;
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

export function pciName(segment: number, bus: number, devfn: number): string {
  return `${hex(segment, 4)}:${hex(bus, 2)}:${hex(slotOf(devfn), 2)}.${fnOf(devfn)}`;
}

/** "pci0000:00": the directory of a host bridge under /sys/devices (drivers/pci/probe.c pci_register_host_bridge). */
export function hostBridgeDirName(segment: number, bus: number): string {
  return `pci${hex(segment, 4)}:${hex(bus, 2)}`;
}

export function slotKey(devfn: number): string {
  return `${hex(slotOf(devfn), 2)}.${fnOf(devfn)}`;
}

const NAME_RE = /^(?:([0-9a-fA-F]{1,4}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])$/;

/** Parse "0000:01:00.0" or "01:00.0" (segment 0) into its parts; undefined when malformed. */
export function parsePciName(text: string): { segment: number; bus: number; devfn: number } | undefined {
  const m = NAME_RE.exec(text.trim());
  if (!m) return undefined;
  const slot = parseInt(m[3]!, 16);
  if (slot > 0x1f) return undefined;
  return {
    segment: m[1] === undefined ? 0 : parseInt(m[1], 16),
    bus: parseInt(m[2]!, 16),
    devfn: devfnOf(slot, parseInt(m[4]!, 10)),
  };
}

export function hex4(n: number): string {
  return hex(n, 4);
}
