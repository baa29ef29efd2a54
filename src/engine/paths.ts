/** A pci_bus device's name, SSSS:BB (drivers/pci/probe.c pci_alloc_child_bus: "%04x:%02x"). */
export function busName(segment: number, bus: number): string {
  return `${segment.toString(16).padStart(4, '0')}:${bus.toString(16).padStart(2, '0')}`;
}
