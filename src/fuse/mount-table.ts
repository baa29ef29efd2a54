// Reading the kernel's mount table, for the lifecycle checks fuse-native does not do
// (it never notices an external `fusermount -u`, clients.md §3 #16). Reads /proc,
// never the mount itself, and only asynchronously: a process that serves a FUSE
// mount on its event loop must not block that loop on file system calls.

import { readFile } from 'node:fs/promises';

export interface MountEntry {
  source: string;
  mountpoint: string;
  fstype: string;
  options: string;
}

/** /proc/mounts escapes space, tab, newline and backslash as octal (fs/proc_namespace.c
 * show_vfsmnt → mangle). */
function unescapeField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function parseMounts(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    if (fields.length < 4) continue;
    const [source, mountpoint, fstype, options] = fields as [string, string, string, string];
    entries.push({
      source: unescapeField(source),
      mountpoint: unescapeField(mountpoint),
      fstype,
      options,
    });
  }
  return entries;
}

export async function readMounts(): Promise<MountEntry[]> {
  return parseMounts(await readFile('/proc/self/mounts', 'utf8'));
}

export function isFuse(entry: MountEntry): boolean {
  return entry.fstype === 'fuse' || entry.fstype.startsWith('fuse.');
}

export async function isFuseMounted(mountpoint: string): Promise<boolean> {
  return (await readMounts()).some((m) => m.mountpoint === mountpoint && isFuse(m));
}
