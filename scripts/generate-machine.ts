// Generates a large machine as topology YAML for the benchmark: per PCI segment, sixteen
// root ports with ACS, each with a switch (an upstream port and eight downstream ports
// with ACS), each downstream port with an eight-function endpoint (some without ACS, so
// the slot rule runs). 74 devices per root port; segments as needed.

export function generateMachineYaml(targetDevices: number): string {
  const perRootPort = 74;
  const perSegment = 16 * perRootPort + 1;
  const segments = Math.max(1, Math.ceil(targetDevices / perSegment));
  const out: string[] = [
    'version: 1',
    `name: generated-${targetDevices}`,
    'cmdline: intel_iommu=on',
    'iommus:',
    '  - { name: dmar0, type: intel-vtd, scope: all, interrupt-remapping: true }',
    'pci:',
  ];
  let made = 0;
  for (let s = 0; s < segments && made < targetDevices; s++) {
    out.push(`  - segment: 0x${s.toString(16)}`, '    bus: 0x00', '    devices:');
    out.push('      "00.0": { id: 8086:29c0, class: 0x060000, type: host-bridge }');
    made++;
    for (let rp = 1; rp <= 16 && made < targetDevices; rp++) {
      out.push(`      "${rp.toString(16).padStart(2, '0')}.0":`);
      out.push('        { id: 1b36:000c, type: root-port, acs: [sv, rr, cr, uf], devices: {');
      out.push('          "00.0": { id: 10b5:8747, type: upstream-port, devices: {');
      made += 2;
      for (let ds = 0; ds < 8; ds++) {
        const fns: string[] = [];
        for (let fn = 0; fn < 8; fn++) fns.push(`"00.${fn}": { id: 8086:1572, class: 0x020000${fn === 0 ? ', driver: i40e' : ''} }`);
        out.push(`            "${ds.toString(16).padStart(2, '0')}.0": { id: 10b5:8747, type: downstream-port, acs: [sv, rr, cr, uf], devices: { ${fns.join(', ')} } },`);
        made += 9;
      }
      out.push('          } } } }');
    }
  }
  return out.join('\n') + '\n';
}
