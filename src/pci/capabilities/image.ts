// A config space image under construction: little-endian register stores and the two
// capability chains (standard from 0x34, extended from 0x100), linked in the order added.

export class ConfigImage {
  readonly bytes: Uint8Array;
  private lastStd: number | null = null;
  private lastExt: number | null = null;

  constructor(size: 256 | 4096) {
    this.bytes = new Uint8Array(size);
  }

  u8(off: number, v: number): void {
    this.bytes[off] = v & 0xff;
  }

  u16(off: number, v: number): void {
    this.u8(off, v);
    this.u8(off + 1, v >>> 8);
  }

  u32(off: number, v: number): void {
    this.u16(off, v & 0xffff);
    this.u16(off + 2, (v >>> 16) & 0xffff);
  }

  get16(off: number): number {
    return (this.bytes[off] ?? 0) | ((this.bytes[off + 1] ?? 0) << 8);
  }

  /** Adds a standard capability header at `off` and links it after the previous one. */
  stdCap(off: number, id: number): void {
    if (off < 0x40 || off > 0xfc || off % 4 !== 0) throw new RangeError(`capability offset 0x${off.toString(16)} outside 0x40-0xfc or unaligned`);
    this.u8(off, id);
    this.u8(off + 1, 0);
    if (this.lastStd === null) this.u8(0x34, off);
    else this.u8(this.lastStd + 1, off);
    this.lastStd = off;
    // Status register bit 4: the capability list is valid (PCI_STATUS_CAP_LIST).
    this.u16(0x06, this.get16(0x06) | 0x10);
  }

  /** Adds an extended capability header (id, version 1 unless given) and links it. */
  extCap(off: number, id: number, version = 1): void {
    if (this.bytes.length <= 0x100) throw new RangeError('extended capabilities need a 4096-byte (PCI Express) config space');
    if (off < 0x100 || off > 0xffc || off % 4 !== 0) throw new RangeError(`extended capability offset 0x${off.toString(16)} outside 0x100-0xffc or unaligned`);
    this.u32(off, (id & 0xffff) | ((version & 0xf) << 16));
    if (this.lastExt !== null) {
      const prev = this.lastExt;
      const header = ((this.bytes[prev] ?? 0) | ((this.bytes[prev + 1] ?? 0) << 8) | ((this.bytes[prev + 2] ?? 0) << 16)) & 0xfffff;
      this.u32(prev, (header | (off << 20)) >>> 0);
    }
    this.lastExt = off;
  }
}
