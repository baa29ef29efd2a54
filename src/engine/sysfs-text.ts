// How the kernel reads text written to an attribute. The buffer is a C string, so a NUL
// ends it; sysfs_streq (lib/string.c) ignores one trailing newline on either side.

export function cString(raw: string): string {
  const nul = raw.indexOf('\0');
  return nul < 0 ? raw : raw.slice(0, nul);
}

/** The written word as sysfs_streq compares it. */
export function sysfsWord(raw: string): string {
  const s = cString(raw);
  return s.endsWith('\n') ? s.slice(0, -1) : s;
}
