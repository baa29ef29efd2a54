// The imported topology as YAML text, through the `yaml` package: the header and the notes
// as comments, IDs and class codes in hexadecimal as the shipped topologies write them,
// device keys quoted (unquoted, "00.0" would read as a number), leaf devices on one line.

import { Document, isMap, Pair, Scalar, YAMLMap, YAMLSeq } from 'yaml';
import type { Node } from 'yaml';
import { Hex } from './import-build';
import type { Out } from './import-build';

const hexTag = {
  identify: (v: unknown): boolean => v instanceof Hex,
  tag: 'tag:yaml.org,2002:int',
  default: true,
  test: /^0x[0-9a-f]+$/,
  resolve: (s: string): number => parseInt(s, 16),
  stringify: (item: Scalar): string => {
    const h = item.value as Hex;
    return `0x${h.value.toString(16).padStart(h.width, '0')}`;
  },
};

type Role = 'plain' | 'devices' | 'device' | 'config' | 'flow';

function isOut(v: unknown): v is Out {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Hex);
}

export function topologyYaml(topo: Out, header: string[], notes: Map<Out, string[]>): string {
  const doc = new Document(null, { customTags: [hexTag] });
  const node = (v: unknown, role: Role): Node => {
    if (Array.isArray(v)) {
      const seq = new YAMLSeq();
      for (const item of v) {
        const n = node(item, role === 'config' ? 'config' : isOut(item) && role === 'flow' ? 'flow' : 'plain');
        seq.items.push(n);
      }
      if (role === 'flow') seq.flow = true;
      return seq;
    }
    if (isOut(v)) {
      const map = new YAMLMap();
      for (const [k, val] of Object.entries(v)) {
        const key = new Scalar(k);
        if (role === 'devices') key.type = 'QUOTE_DOUBLE';
        const childRole: Role =
          role === 'devices' ? 'device' : k === 'devices' ? 'devices' : k === 'config' ? 'config' : k === 'iommus' ? 'flow' : role === 'flow' || (role === 'device' && k !== 'devices') ? 'flow' : 'plain';
        map.items.push(new Pair(key, node(val, childRole)));
      }
      if (role === 'flow' || (role === 'device' && !('devices' in v) && !('config' in v))) map.flow = true;
      const comments = notes.get(v);
      if (comments) map.comment = comments.map((c) => ` ${c}`).join('\n');
      return map;
    }
    const s = doc.createNode(v) as Scalar;
    if (role === 'config') s.type = 'QUOTE_DOUBLE';
    return s;
  };
  doc.contents = node(topo, 'plain') as YAMLMap;
  doc.commentBefore = header.map((l) => ` ${l}`).join('\n');
  if (!isMap(doc.contents)) throw new Error('topology is not a map');
  return doc.toString({ lineWidth: 0 });
}
