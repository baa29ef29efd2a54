// The uevents of `iommufs run`: what a udev monitor inside the sandbox receives when the
// simulated machine adds, removes, binds or unbinds a PCI device (VFs appearing on a write to
// sriov_numvfs, a remove, a rescan, a bind).
//
// Node has no netlink sockets, so a small sender runs inside the sandbox's network namespace
// (`unshare -n`): the Perl script below (perl-base is Essential on Debian; its core Socket
// module opens AF_NETLINK sockets). The daemon writes each uevent to it on a pipe (descriptor
// 3 of the namespace script) once the write that caused it has returned (the events file's
// horizon, sysfs/event-files.ts), and the sender puts it on NETLINK_KOBJECT_UEVENT twice:
// - to the kernel's own uevent socket of that namespace, which broadcasts it to group 1 as
//   the kernel's (lib/kobject_uevent.c uevent_net_rcv, Linux 4.18+: "uevent injection" for
//   containers; it needs CAP_SYS_ADMIN over the namespace, which the sandbox's root has),
//   from port 0 and with the kernel's SEQNUM appended: so `udevadm monitor --kernel` and
//   libudev's kernel monitors accept it, which they do for no message a process sends
//   itself (sd-device-monitor drops group 1 messages from a port other than 0);
// - to group 2 in libudev's format (the "libudev" header, magic 0xfeedcafe, properties after
//   it), as udevd sends a device after its rules: the kernel's properties, the SEQNUM the
//   kernel gave (read back from group 1), USEC_INITIALIZED and the properties the rules add
//   (those of /run/udev/data, run-udev.ts): `udevadm monitor --udev`, pyudev, libvirt.
// Frames on the pipe: `K KEY=VALUE` lines (the kernel's environment, without SEQNUM),
// `U KEY=VALUE` lines (udev's additions), `H <hash>` (the subsystem's MurmurHash2, for the
// monitors' BPF filters), then an empty line.

import type { Writable } from 'node:stream';
import type { EventReader } from '../engine/change-log';
import type { Uevent } from '../engine/group-events';
import type { Machine } from '../engine/machine';
import type { EventGate } from '../sysfs/event-files';
import { ueventEnv } from '../sysfs/uevent-env';
import type { PciIds } from './pci-ids';
import { udevProperties } from './run-udev';

/** The sender's file name in the run directory. */
export const UEVENT_SENDER_FILE = 'uevents.pl';

export const UEVENT_SENDER = String.raw`use strict;
use warnings;
use Socket qw(SOCK_RAW);
use constant { AF_NETLINK => 16, NETLINK_KOBJECT_UEVENT => 15, NLMSG_ERROR => 2, NLMSG_MIN_TYPE => 16, NLM_F_REQUEST => 1, NLM_F_ACK => 4, UDEV_MONITOR_MAGIC => 0xfeedcafe };
sub addr { return pack('S x2 L L', AF_NETLINK, 0, $_[0]); }
sub warn_once { my ($key, $text) = @_; our %warned; print STDERR "iommufs run: uevents: $text\n" unless $warned{$key}++; }
my ($tx, $rx);
socket($tx, AF_NETLINK, SOCK_RAW, NETLINK_KOBJECT_UEVENT) && bind($tx, addr(0)) or die "iommufs run: uevents: no netlink socket: $!\n";
# Group 1 read back: the kernel's SEQNUM for the udev message.
undef $rx unless socket($rx, AF_NETLINK, SOCK_RAW, NETLINK_KOBJECT_UEVENT) && bind($rx, addr(1));
my ($n, $own) = (0, 0);
sub kernel_seqnum {
  my ($payload) = @_;
  return undef unless $rx;
  my $rin = '';
  vec($rin, fileno($rx), 1) = 1;
  # Other uevents may come between (the host's, where the namespace belongs to the initial
  # user namespace): a second at most.
  my $until = time + 1;
  while (time <= $until && select(my $rout = $rin, undef, undef, 1)) {
    defined recv($rx, my $buf, 16384, 0) or next;
    return $1 if index($buf, $payload) == 0 && $buf =~ /\0SEQNUM=(\d+)\0?\z/;
  }
  return undef;
}
$/ = "\n\n";
while (my $frame = <STDIN>) {
  my (@k, @u, $hash);
  for (split /\n/, $frame) {
    if (s/^K //) { push @k, $_ } elsif (s/^U //) { push @u, $_ } elsif (/^H (\d+)$/) { $hash = $1 }
  }
  my ($action) = map { /^ACTION=(.*)$/ ? $1 : () } @k;
  my ($devpath) = map { /^DEVPATH=(.*)$/ ? $1 : () } @k;
  next unless defined $action && defined $devpath;
  my $payload = "$action\@$devpath\0" . join('', map { "$_\0" } @k);
  my $seqnum;
  my $msg = pack('L S S L L', 16 + length($payload), NLMSG_MIN_TYPE, NLM_F_REQUEST | NLM_F_ACK, ++$n, 0) . $payload;
  if (defined send($tx, $msg, 0, addr(0))) {
    if (defined recv($tx, my $ack, 4096, 0)) {
      my ($type, $err) = unpack('x4 S x10 l', $ack);
      if ($type == NLMSG_ERROR && $err != 0) { warn_once('inject', "the kernel refused a uevent (errno " . -$err . "): udevadm monitor --kernel sees none"); }
      else { $seqnum = kernel_seqnum($payload); }
    }
  } else {
    warn_once('inject', "no uevent injection ($!): udevadm monitor --kernel sees none");
  }
  $seqnum = ++$own unless defined $seqnum;
  my $props = join('', map { "$_\0" } @k, "SEQNUM=$seqnum", @u);
  my $hdr = pack('a8 N V V V N N N N', 'libudev', UDEV_MONITOR_MAGIC, 40, 40, length($props), $hash // 0, 0, 0, 0);
  # ECONNREFUSED: no one listens to group 2, as udevd finds.
  send($tx, $hdr . $props, 0, addr(2)) or $!{ECONNREFUSED} or warn_once('udev', "cannot send to udev monitors: $!");
}
`;

/** MurmurHash2 (32 bits, seed 0) as systemd's string_hash32 computes it, for the libudev
 * header's filter fields (src/basic/MurmurHash2.c; little-endian reads, as on x86). */
export function murmurHash2(text: string): number {
  const data = Buffer.from(text, 'utf8');
  const m = 0x5bd1e995;
  let len = data.length;
  let h = (0 ^ len) >>> 0;
  let i = 0;
  while (len >= 4) {
    let k = data.readUInt32LE(i);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
    i += 4;
    len -= 4;
  }
  if (len === 3) h ^= data[i + 2]! << 16;
  if (len >= 2) h ^= data[i + 1]! << 8;
  if (len >= 1) {
    h ^= data[i]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h >>> 0;
}

const PCI_HASH = murmurHash2('pci');

/** One frame of the pipe (see the header). */
export function ueventFrame(e: Uevent, ids: PciIds | undefined, usecInitialized: bigint): string {
  const udev = [`USEC_INITIALIZED=${usecInitialized}`, ...udevProperties(e.device, ids).map(([k, v]) => `${k}=${v}`)];
  return `${ueventEnv(e).map((l) => `K ${l}\n`).join('')}${udev.map((l) => `U ${l}\n`).join('')}H ${PCI_HASH}\n\n`;
}

/** Follows the machine's uevents and writes each, once published, to the sender's pipe. */
export class UeventForwarder {
  private readonly reader: EventReader<Uevent>;
  private sink: Writable | undefined;
  private readonly initialized = new Map<string, bigint>();

  constructor(
    private readonly gate: EventGate,
    m: Machine,
    private readonly ids: PciIds | undefined,
    private readonly warn: (text: string) => void,
  ) {
    this.reader = m.changes.followUevents();
  }

  /** The pipe to the sender; what was published before goes now. */
  attach(sink: Writable): void {
    this.sink = sink;
    // The sender gone (no perl, or it failed): the run goes on without uevents.
    sink.on('error', () => (this.sink = undefined));
    this.flush();
  }

  /** Sends what was published since the last call (called after every write's publication). */
  flush(): void {
    const sink = this.sink;
    if (sink === undefined) return;
    let text = '';
    for (const r of this.reader.take(Number.POSITIVE_INFINITY, this.gate.published.uevent)) {
      if (r.kind === 'lost') {
        this.warn(`run: ${r.count} uevents were not sent (the sender fell behind)`);
        continue;
      }
      const name = r.device.name;
      // udevd's USEC_INITIALIZED: when it first saw the device; anew after a remove.
      const usec = this.initialized.get(name) ?? process.hrtime.bigint() / 1000n;
      if (r.action === 'remove') this.initialized.delete(name);
      else this.initialized.set(name, usec);
      text += ueventFrame(r, this.ids, usec);
    }
    if (text !== '') sink.write(text);
  }

  close(): void {
    this.reader.close();
    this.sink?.end();
    this.sink = undefined;
  }
}
