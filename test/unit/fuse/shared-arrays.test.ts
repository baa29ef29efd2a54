// Listings' arrays: one array for the directories that list alike, within one version of
// the tree; arrays alike in content but not in identity are not merged.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hashNames, SharedArrays } from '../../../src/fuse/shared-arrays';

describe('SharedArrays', () => {
  it('answers the array kept for the same names in the same version, and only then', () => {
    const table = new SharedArrays<string>();
    const share = (version: number, names: string[]): string[] => table.share(version, names, hashNames(names));
    const first = share(1, ['.', '..', 'control', 'runtime_status']);
    assert.equal(share(1, ['.', '..', 'control', 'runtime_status']), first);
    const other = ['.', '..', 'control', 'wakeup'];
    assert.equal(share(1, other), other);
    const next = ['.', '..', 'control', 'runtime_status'];
    assert.equal(share(2, next), next, 'a new version keeps nothing of the old one');
  });

  it('compares elements by identity, so equal objects from elsewhere are not merged, and a bucket stays short', () => {
    const table = new SharedArrays<{ size: number }>();
    const arrays = Array.from({ length: 20 }, () => [{ size: 1 }]);
    for (const a of arrays) assert.equal(table.share(1, a, 7), a);
    assert.equal(table.share(1, [arrays[0]![0]!], 7), arrays[0], 'the same element: the kept array');
  });

  it('hashes the order and the split of names', () => {
    assert.notEqual(hashNames(['ab', 'c']), hashNames(['a', 'bc']));
    assert.notEqual(hashNames(['a', 'b']), hashNames(['b', 'a']));
  });
});
