// A walk of a whole simulated /sys in-process: every path with what it is, a link's target,
// a readable attribute's text (hex for binary ones). Two machines serve the same tree exactly
// when their walks are equal.

import type { DirNode } from '../../../src/sysfs/node';
import type { Machine } from '../../../src/engine/machine';
import { sysfsTree } from '../../../src/sysfs/tree';
import { isErrno } from '../../../src/engine/errno';

export function walkTree(m: Machine): string[] {
  const out: string[] = [];
  const visit = (dir: DirNode, path: string): void => {
    for (const name of dir.list()) {
      const here = `${path}/${name}`;
      const node = dir.lookup(name);
      if (!node) {
        out.push(`${here} listed but not found`);
      } else if (node.kind === 'dir') {
        out.push(`${here}/`);
        visit(node, here);
      } else if (node.kind === 'link') {
        out.push(`${here} -> ${node.target}`);
      } else if ((node.mode & 0o444) === 0) {
        out.push(`${here} (write-only)`);
      } else {
        let text: string;
        try {
          const b = node.show();
          text = node.binary ? b.toString('hex') : JSON.stringify(b.toString('latin1'));
        } catch (e) {
          if (!isErrno(e)) throw e;
          text = `error ${e.code}`;
        }
        out.push(`${here} = ${text}`);
      }
    }
  };
  visit(sysfsTree(m).root, '');
  return out;
}

/** The first line where two walks differ, with a little context, for assertion messages. */
export function firstDifference(a: string[], b: string[]): string | undefined {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return `line ${i}:\n  before: ${a[i] ?? '(end)'}\n  after:  ${b[i] ?? '(end)'}`;
  }
  return undefined;
}
