// Output of a script that marks its parts with `@@ name` lines, split by name.

import assert from 'node:assert/strict';

/** The text after each `@@ name` line, up to the next one, by name. */
export function splitSections(stdout: string): Map<string, string> {
  const sections = new Map<string, string>();
  let name = '';
  for (const line of stdout.replace(/\n$/, '').split('\n')) {
    const m = /^@@ (.*)$/.exec(line);
    if (m) {
      name = m[1]!;
      sections.set(name, '');
    } else if (name !== '') sections.set(name, `${sections.get(name)!}${line}\n`);
  }
  return sections;
}

export function section(sections: Map<string, string>, name: string): string {
  const s = sections.get(name);
  assert.ok(s !== undefined, `no section ${name}`);
  return s;
}
