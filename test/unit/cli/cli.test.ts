// The command line as scripts see it: output formats, exit codes, and the malformed corpus
// (every file refused with its exact lines and exit 2, never a stack trace).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cli } from '../../helpers/cli';
import { FIXTURES, TOPOLOGIES } from '../../helpers/paths';

describe('iommufs command line', () => {
  it('groups prints "group N: devices" lines in number order', async () => {
    const r = await cli('groups', 'topologies/qemu-switch.yaml');
    assert.equal(r.code, 0);
    assert.equal(r.stdout.trim(), readFileSync(join(FIXTURES, 'expected-groups', 'qemu-switch.txt'), 'utf8').trim());
  });

  it('groups --json gives id, type, devices and reserved_regions as the files read', async () => {
    const r = await cli('groups', join(TOPOLOGIES, 'qemu-strict.yaml'), '--json');
    const j = JSON.parse(r.stdout) as { groups: { id: number; type: string; devices: string[]; reserved_regions: string[] }[] };
    assert.equal(j.groups.length, 14);
    assert.deepEqual(j.groups[7], {
      id: 7,
      type: 'DMA',
      devices: ['0000:00:1f.0', '0000:00:1f.2', '0000:00:1f.3'],
      reserved_regions: ['0x0000000000000000 0x0000000000ffffff direct-relaxable', '0x00000000fee00000 0x00000000feefffff msi'],
    });
  });

  it('explain names the bridge without ACS and what it lacks', async () => {
    const r = await cli('explain', 'topologies/qemu-switch.yaml', '03:00.0');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /IOMMU group 5/);
    assert.match(r.stdout, /0000:02:00\.0 does not isolate its downstream devices: no ACS capability/);
  });

  it('explain of a device that does not exist exits 1', async () => {
    const r = await cli('explain', 'topologies/qemu-switch.yaml', '0000:09:00.0');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no device/);
  });

  it('validate prints nothing and exits 0 for every shipped topology', async () => {
    for (const f of readdirSync(TOPOLOGIES).filter((n) => n.endsWith('.yaml'))) {
      const r = await cli('validate', join('topologies', f));
      assert.deepEqual([f, r.code, r.stdout, r.stderr], [f, 0, '', '']);
    }
  });

  it('an unknown command or missing argument is a usage error (exit 2)', async () => {
    assert.equal((await cli('frobnicate')).code, 2);
    assert.equal((await cli('groups')).code, 2);
  });

  const bad = readdirSync(join(FIXTURES, 'bad-topologies')).filter((n) => n.endsWith('.yaml'));
  it(`every malformed topology (${bad.length}) is refused with its exact lines, exit 2, no stack trace`, async () => {
    assert.ok(bad.length >= 25);
    for (const f of bad) {
      const rel = join('test', 'fixtures', 'bad-topologies', f);
      const expected = readFileSync(join(FIXTURES, 'bad-topologies', f.replace(/\.yaml$/, '.expected')), 'utf8').trim();
      for (const cmd of ['validate', 'groups']) {
        const r = await cli(cmd, rel);
        assert.equal(r.code, 2, `${cmd} ${f}`);
        assert.equal(r.stdout, '', `${cmd} ${f}`);
        assert.equal(r.stderr.trim(), expected, `${cmd} ${f}`);
        assert.doesNotMatch(r.stderr, /\n\s+at /, `${cmd} ${f}: stack trace`);
      }
    }
  });
});
