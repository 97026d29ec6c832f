/**
 * Counts a pcap stream as it passes (libpcap's file format: a 24-byte header,
 * then a 16-byte header per packet): packets, bytes on the wire, and the time
 * from the first packet to the last. Pure; fed chunk by chunk.
 */
export interface PcapSummary {
  packets: number;
  /** Sum of the packets' lengths on the wire. */
  bytes: number;
  /** Seconds from the first packet to the last (0 for fewer than two). */
  seconds: number;
  /** The link type of the capture (1: Ethernet). */
  linkType?: number;
}

export class PcapCounter {
  private buf = Buffer.alloc(0);
  private headerDone = false;
  private little = true;
  private nano = false;
  private skip = 0;
  private first?: number;
  private last?: number;
  readonly summary: PcapSummary = { packets: 0, bytes: 0, seconds: 0 };

  feed(chunk: Uint8Array): void {
    let data = chunk;
    if (this.skip > 0) {
      const n = Math.min(this.skip, data.length);
      this.skip -= n;
      data = data.subarray(n);
    }
    this.buf = this.buf.length ? Buffer.concat([this.buf, data]) : Buffer.from(data);
    if (!this.headerDone) {
      if (this.buf.length < 24) return;
      const magic = this.buf.readUInt32LE(0);
      if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) this.little = true;
      else if (this.buf.readUInt32BE(0) === 0xa1b2c3d4 || this.buf.readUInt32BE(0) === 0xa1b23c4d) this.little = false;
      else throw new Error('not a pcap stream (unknown magic number)');
      const m = this.little ? magic : this.buf.readUInt32BE(0);
      this.nano = m === 0xa1b23c4d;
      this.summary.linkType = this.u32(20);
      this.buf = this.buf.subarray(24);
      this.headerDone = true;
    }
    while (this.buf.length >= 16) {
      const sec = this.u32(0);
      const frac = this.u32(4);
      const incl = this.u32(8);
      const orig = this.u32(12);
      const t = sec + frac / (this.nano ? 1e9 : 1e6);
      this.first ??= t;
      this.last = t;
      this.summary.packets++;
      this.summary.bytes += orig;
      this.summary.seconds = this.last - this.first;
      if (this.buf.length >= 16 + incl) this.buf = this.buf.subarray(16 + incl);
      else {
        this.skip = 16 + incl - this.buf.length;
        this.buf = Buffer.alloc(0);
      }
    }
  }

  private u32(at: number): number {
    return this.little ? this.buf.readUInt32LE(at) : this.buf.readUInt32BE(at);
  }
}
