// The kernel command line, reduced to the parameters the engine honours. Parameters are
// applied left to right and a later one overrides an earlier one, as the kernel's early
// parameter handlers do when they run in command-line order (init/main.c parse_early_param).
// Anything else is kept in `raw` and ignored.

import type { BootOptions, PciId } from './model';
import { parsePciId } from './values';

/** The out-of-tree ACS override patch keeps at most this many IDs (NUM_ACS_IDS). */
const MAX_ACS_OVERRIDE_IDS = 16;

export function parseCmdline(raw: string): BootOptions {
  const o: BootOptions = {
    raw,
    amdIommuOff: false,
    acsOverride: { downstream: false, multifunction: false, ids: [] },
    allowUnsafeInterrupts: false,
    disableAcsRedir: [],
    noats: false,
    warnings: [],
  };
  for (const { param, value } of splitArgs(raw)) {
    // kernel/params.c parameq: '-' and '_' are the same character in parameter names.
    const name = param.replace(/-/g, '_');
    const handler = HANDLERS[name];
    if (handler) handler(o, value, param);
  }
  return o;
}

type Handler = (o: BootOptions, value: string | null, param: string) => void;

const HANDLERS: Record<string, Handler> = {
  // drivers/iommu/intel/iommu.c intel_iommu_setup: comma list, each option matched by prefix.
  intel_iommu: (o, value) => {
    for (const opt of commaList(value)) {
      if (opt.startsWith('on')) o.intelIommu = 'on';
      else if (opt.startsWith('off')) o.intelIommu = 'off';
      else if (opt.startsWith('strict')) o.strict = true; // deprecated spelling of iommu.strict=1
    }
  },
  // drivers/iommu/amd/init.c parse_amd_iommu_options.
  amd_iommu: (o, value) => {
    for (const opt of commaList(value)) {
      if (opt.startsWith('fullflush')) o.strict = true;
      else if (opt.startsWith('off')) o.amdIommuOff = true;
    }
  },
  // arch/x86/kernel/pci-dma.c iommu_setup: "pt" and "nopt" among other x86 options.
  iommu: (o, value) => {
    for (const opt of commaList(value)) {
      if (opt.startsWith('pt')) o.passthrough = true;
      if (opt.startsWith('nopt')) o.passthrough = false;
    }
  },
  // drivers/iommu/iommu.c iommu_set_def_domain_type.
  'iommu.passthrough': (o, value, param) => {
    const b = kstrtobool(value);
    if (b === undefined) o.warnings.push(badBool(param, value));
    else o.passthrough = b;
  },
  // drivers/iommu/iommu.c iommu_dma_setup.
  'iommu.strict': (o, value, param) => {
    const b = kstrtobool(value);
    if (b === undefined) o.warnings.push(badBool(param, value));
    else o.strict = b;
  },
  // The out-of-tree ACS override patch (pcie_acs_override_setup in drivers/pci/quirks.c of
  // the distributions that carry it): downstream, multifunction, id:vvvv:dddd.
  pcie_acs_override: (o, value) => {
    for (const opt of commaList(value)) {
      if (opt.startsWith('downstream')) o.acsOverride.downstream = true;
      else if (opt.startsWith('multifunction')) o.acsOverride.multifunction = true;
      else if (opt.startsWith('id:')) addOverrideId(o, opt.slice(3));
    }
  },
  // A bool module parameter: kernel/params.c param_set_bool, where a bare name means "1".
  'vfio_iommu_type1.allow_unsafe_interrupts': (o, value, param) => {
    const b = value === null ? true : kstrtobool(value);
    if (b === undefined) o.warnings.push(badBool(param, value));
    else o.allowUnsafeInterrupts = b;
  },
  // drivers/pci/pci.c pci_setup: comma-separated options.
  pci: (o, value) => {
    for (const opt of (value ?? '').split(',')) {
      if (opt.startsWith('noats')) o.noats = true;
      else if (opt.startsWith('disable_acs_redir=')) {
        // The device list inside the option is ';'-separated (pci_dev_str_match); a later
        // disable_acs_redir= replaces an earlier one, as the kernel keeps one pointer.
        o.disableAcsRedir = opt
          .slice('disable_acs_redir='.length)
          .split(';')
          .map((d) => d.trim())
          .filter((d) => d !== '');
      } else if (opt === 'noacs') {
        o.warnings.push(
          'pci=noacs: Linux has no such option (the kernel logs "PCI: Unknown option `noacs\'" and ignores it); ' +
            'use pci=disable_acs_redir=<devices> to clear ACS redirection, or pcie_acs_override to split groups',
        );
      }
    }
  },
};

function addOverrideId(o: BootOptions, text: string): void {
  const parsed = parsePciId(text);
  if (!parsed.ok) {
    o.warnings.push(`pcie_acs_override: invalid id "id:${text}" ignored (expected id:vvvv:dddd)`);
    return;
  }
  if (o.acsOverride.ids.length >= MAX_ACS_OVERRIDE_IDS) {
    o.warnings.push(`pcie_acs_override: more than ${MAX_ACS_OVERRIDE_IDS} ids; id:${text} ignored`);
    return;
  }
  const id: PciId = parsed.value;
  o.acsOverride.ids.push(id);
}

function commaList(value: string | null): string[] {
  if (value === null) return [];
  return value.split(',').filter((s) => s !== '');
}

/**
 * lib/kstrtox.c kstrtobool as of 6.1: only the first character counts (y/t/1 true,
 * n/f/0 false, either case), except that "o" needs a second one (on / off).
 */
export function kstrtobool(value: string | null): boolean | undefined {
  if (value === null || value === '') return undefined;
  const c = value[0]!.toLowerCase();
  if (c === 'y' || c === 't' || c === '1') return true;
  if (c === 'n' || c === 'f' || c === '0') return false;
  if (c === 'o') {
    const d = (value[1] ?? '').toLowerCase();
    if (d === 'n') return true;
    if (d === 'f') return false;
  }
  return undefined;
}

function badBool(param: string, value: string | null): string {
  return `${param}=${value ?? ''}: not a boolean (the kernel takes 1/0, y/n, t/f, on/off); ignored`;
}

/**
 * Splits the line into parameters as lib/cmdline.c next_arg does: whitespace separates
 * them except inside double quotes, the first '=' splits name from value, and quotes
 * around the value (or the whole parameter) are dropped. "--" ends the kernel's share;
 * what follows goes to init.
 */
export function splitArgs(raw: string): { param: string; value: string | null }[] {
  const out: { param: string; value: string | null }[] = [];
  let i = 0;
  while (i < raw.length) {
    while (i < raw.length && /\s/.test(raw[i]!)) i++;
    if (i >= raw.length) break;
    let inQuote = false;
    let token = '';
    for (; i < raw.length; i++) {
      const ch = raw[i]!;
      if (/\s/.test(ch) && !inQuote) break;
      if (ch === '"') inQuote = !inQuote;
      else token += ch;
    }
    if (token === '--') break;
    const eq = token.indexOf('=');
    out.push(eq < 0 ? { param: token, value: null } : { param: token.slice(0, eq), value: token.slice(eq + 1) });
  }
  return out;
}
