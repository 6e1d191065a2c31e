import { expect } from 'chai';
import {
  alawToLinear,
  decodePcma,
  decodePcmu,
  encodePcma,
  encodePcmu,
  linearToAlaw,
  linearToMulaw,
  mulawToLinear,
} from '../../lib/rtp/g711.js';

/** Every 16-bit value, for exhaustive checks. */
const ALL = Int16Array.from({ length: 65536 }, (_, i) => i - 32768);

describe('G.711 (ITU-T G.711)', () => {
  describe('mu-law (PCMU)', () => {
    const encodeCases: Array<[number, number]> = [
      [0, 0xff],
      [-1, 0x7f],
      [8, 0xfe],
      [-8, 0x7e],
      [32767, 0x80], // positive full scale
      [-32768, 0x00], // negative full scale
      [32124, 0x80],
      [-32124, 0x00],
      [16764, 0x8f], // first value of segment 7
    ];
    for (const [linear, code] of encodeCases) {
      it(`encodes ${linear} as 0x${code.toString(16)}`, () => {
        expect(linearToMulaw(linear)).to.equal(code);
      });
    }

    const decodeCases: Array<[number, number]> = [
      [0xff, 0],
      [0x7f, 0], // "negative zero"
      [0xfe, 8],
      [0x7e, -8],
      [0x80, 32124],
      [0x00, -32124],
      [0x81, 31100],
      [0x8f, 16764],
      [0x90, 15996],
      [0xef, 132], // segment 1, first step
      [0xf0, 120], // top of segment 0
    ];
    for (const [code, linear] of decodeCases) {
      it(`decodes 0x${code.toString(16)} as ${linear}`, () => {
        expect(mulawToLinear(code)).to.equal(linear);
      });
    }

    it('re-encodes every decoded code point to itself (except negative zero)', () => {
      for (let c = 0; c < 256; c++) {
        if (c === 0x7f) continue;
        expect(linearToMulaw(mulawToLinear(c)), `code 0x${c.toString(16)}`).to.equal(c);
      }
    });

    it('round-trips every 16-bit value within half a quantization step', () => {
      const decoded = decodePcmu(encodePcmu(ALL));
      let worst = 0;
      for (let i = 0; i < ALL.length; i++) {
        const x = ALL[i]!;
        const err = Math.abs(decoded[i]! - x);
        // Step in segment e is 8 << e for (|x| + 132) in [128 << e, 256 << e): half a step <= (|x| + 132) / 32.
        // Beyond the clip level 32635 the output stays at 32124.
        const bound = Math.max((Math.abs(x) + 132) / 32, Math.abs(x) - 32124);
        if (err > bound) expect.fail(`x=${x} decoded ${decoded[i]} error ${err} > ${bound}`);
        if (Math.abs(x) <= 32635) worst = Math.max(worst, err);
      }
      expect(worst).to.be.at.most(512);
    });

    it('is monotonic', () => {
      const decoded = decodePcmu(encodePcmu(ALL));
      for (let i = 1; i < decoded.length; i++) expect(decoded[i]!).to.be.at.least(decoded[i - 1]!);
    });
  });

  describe('A-law (PCMA)', () => {
    const encodeCases: Array<[number, number]> = [
      [0, 0xd5],
      [-1, 0x55],
      [32767, 0xaa], // positive full scale
      [-32768, 0x2a], // negative full scale
      [5504, 0x80],
      [-5504, 0x00],
    ];
    for (const [linear, code] of encodeCases) {
      it(`encodes ${linear} as 0x${code.toString(16)}`, () => {
        expect(linearToAlaw(linear)).to.equal(code);
      });
    }

    const decodeCases: Array<[number, number]> = [
      [0xd5, 8],
      [0x55, -8],
      [0xaa, 32256],
      [0x2a, -32256],
      [0x80, 5504],
      [0x00, -5504],
      [0xd4, 24],
      [0xc5, 264], // segment 1, step 16
    ];
    for (const [code, linear] of decodeCases) {
      it(`decodes 0x${code.toString(16)} as ${linear}`, () => {
        expect(alawToLinear(code)).to.equal(linear);
      });
    }

    it('re-encodes every decoded code point to itself', () => {
      for (let c = 0; c < 256; c++) expect(linearToAlaw(alawToLinear(c)), `code 0x${c.toString(16)}`).to.equal(c);
    });

    it('round-trips every 16-bit value within half a quantization step', () => {
      const decoded = decodePcma(encodePcma(ALL));
      for (let i = 0; i < ALL.length; i++) {
        const x = ALL[i]!;
        const err = Math.abs(decoded[i]! - x);
        // Segments 0 and 1 have a step of 16; segment s >= 2 has 16 << (s - 1), half of which is <= |x| / 32 + 8.
        const bound = Math.max(8, Math.abs(x) / 32 + 8, Math.abs(x) - 32256);
        if (err > bound) expect.fail(`x=${x} decoded ${decoded[i]} error ${err} > ${bound}`);
      }
    });
  });

  it('codes buffers sample by sample', () => {
    const samples = Int16Array.from([0, 1000, -1000, 32767, -32768]);
    const mu = encodePcmu(samples);
    expect(mu).to.have.length(5);
    expect(mu[0]).to.equal(0xff);
    expect(Array.from(decodePcmu(mu))).to.deep.equal(Array.from(samples, (s) => mulawToLinear(linearToMulaw(s))));
    const a = encodePcma(samples);
    expect(a[0]).to.equal(0xd5);
    expect(Array.from(decodePcma(a))).to.deep.equal(Array.from(samples, (s) => alawToLinear(linearToAlaw(s))));
  });
});

describe('G.711 encoder tables (issue 14: encode by lookup)', () => {
  it('encodes every 16-bit sample exactly as the segment search does (mu-law and A-law)', () => {
    const all = Int16Array.from({ length: 65536 }, (_, u) => (u >= 32768 ? u - 65536 : u));
    const mu = encodePcmu(all);
    const a = encodePcma(all);
    for (let i = 0; i < all.length; i++) {
      if (mu[i] !== linearToMulaw(all[i]!)) expect.fail(`mu-law of ${all[i]}: ${mu[i]} vs ${linearToMulaw(all[i]!)}`);
      if (a[i] !== linearToAlaw(all[i]!)) expect.fail(`A-law of ${all[i]}: ${a[i]} vs ${linearToAlaw(all[i]!)}`);
    }
  });
});
