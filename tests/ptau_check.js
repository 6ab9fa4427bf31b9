// ptau_check.js NPM_PREFIX FILE.ptau: checks a phase-2 prepared powers-of-tau file without knowing its tau.
//
// Read with the libraries snarkjs reads ptau files with (@iden3/binfileutils, ffjavascript), not with the
// writer's code. Pairings check that sections 2-6 hold one tau, alpha and beta (random linear
// combinations of consecutive points have the same ratio as G2 and tau*G2, or as G1 and tau*G1), and the
// Lagrange sections 12-15 must equal, byte for byte, what ffjavascript's lagrangeEvaluations (the function
// `snarkjs powersoftau prepare phase2` calls) makes of sections 2-5. Prints {"power": N, "checks": [...]}
// and exits 0 when every check holds, 1 with the failed check's name otherwise.
"use strict";

const path = require("path");
const crypto = require("crypto");
const { createRequire } = require("module");

async function main(prefix, file) {
  const req = createRequire(path.join(prefix, "package.json"));
  const ff = req("ffjavascript");
  const bin = req("@iden3/binfileutils");
  const curve = await ff.buildBn128();
  const { fd, sections } = await bin.readBinFile(file, "ptau", 1);
  const checks = [];
  const expect = (name, ok) => { checks.push(name); if (!ok) throw new Error(`check failed: ${name}`); };
  try {
    const head = await bin.readSection(fd, sections, 1);
    const power = new DataView(head.buffer, head.byteOffset).getUint32(4 + 32, true);
    const n = 2 ** power;
    const read = (id) => bin.readSection(fd, sections, id);
    const [tauG1, tauG2, alphaG1, betaG1, betaG2] = [await read(2), await read(3), await read(4),
                                                      await read(5), await read(6)];
    expect("section sizes", tauG1.byteLength === (2 * n - 1) * 64 && tauG2.byteLength === n * 128 &&
           alphaG1.byteLength === n * 64 && betaG1.byteLength === n * 64 && betaG2.byteLength === 128);
    const G1 = curve.G1, G2 = curve.G2;
    expect("tauG1[0] is the generator", G1.eq(G1.fromRprLEM(tauG1, 0), G1.g));
    expect("tauG2[0] is the generator", G2.eq(G2.fromRprLEM(tauG2, 0), G2.g));
    const t2 = G2.fromRprLEM(tauG2, 128), t1 = G1.fromRprLEM(tauG1, 64);
    // sum r_i P_i and sum r_i P_(i+1) over a section: the same ratio as (G, tau*G) iff each step is tau
    const shifted = async (G, buff, size) => {
      const m = buff.byteLength / size - 1;
      const r = crypto.randomBytes(m * 32);
      for (let i = 0; i < m; i++) r.fill(0, i * 32 + 8, i * 32 + 32);  // 64-bit coefficients
      return [await G.multiExpAffine(buff.slice(0, m * size), r), await G.multiExpAffine(buff.slice(size), r)];
    };
    const sameRatio = (a1, b1, a2, b2) => curve.pairingEq(a1, b2, G1.neg(b1), a2);
    for (const [name, buff] of [["tauG1", tauG1], ["alphaTauG1", alphaG1], ["betaTauG1", betaG1]]) {
      const [a, b] = await shifted(G1, buff, 64);
      expect(`${name}: every point is tau times the one before`, await sameRatio(a, b, G2.g, t2));
    }
    const [a, b] = await shifted(G2, tauG2, 128);
    expect("tauG2: every point is tau times the one before", await sameRatio(G1.g, t1, a, b));
    expect("betaG2 has betaTauG1[0]'s beta",
           await sameRatio(G1.g, G1.fromRprLEM(betaG1, 0), G2.g, G2.fromRprLEM(betaG2, 0)));
    for (const [from, to, G, size, extra] of [[2, 12, G1, 64, true], [3, 13, G2, 128, false],
                                              [4, 14, G1, 64, false], [5, 15, G1, 64, false]]) {
      const source = await read(from), target = await read(to);
      let at = 0;
      for (let p = 0; p <= power + (extra ? 1 : 0); p++) {
        const m = 2 ** p;
        let input;
        if (p === power + 1) {  // prepare phase 2 pads tauG1's 2^(power+1) - 1 points with a zero
          input = new Uint8Array(m * size);
          input.set(source.slice(0, (m - 1) * size));
          input.set(G.zeroAffine, (m - 1) * size);
        } else {
          input = source.slice(0, m * size);
        }
        const want = await G.lagrangeEvaluations(input, "affine", "affine");
        const got = target.slice(at, at + m * size);
        expect(`section ${to}, domain 2^${p}: the Lagrange form of section ${from}`,
               Buffer.compare(Buffer.from(want), Buffer.from(got)) === 0);
        at += m * size;
      }
      expect(`section ${to}: nothing after the last domain`, at === target.byteLength);
    }
    console.log(JSON.stringify({ power, checks }));
  } finally {
    await fd.close();
    await curve.terminate();
  }
}

main(process.argv[2], process.argv[3]).then(() => process.exit(0), (err) => {
  console.error(err && err.message ? err.message : String(err));
  process.exit(1);
});
