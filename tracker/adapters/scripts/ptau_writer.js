// ptau_writer.js NPM_PREFIX POWER OUT.ptau RESULT.json: a snarkjs powers-of-tau file made from a known tau.
//
// The file is what `snarkjs powersoftau prepare phase2` would leave after a ceremony whose only secrets
// are TAU, ALPHA and BETA below: anyone can forge proofs with keys made from it, so it is for benchmarks
// only (proving and verifying cost the same whatever tau is). snarkjs makes such a file by contributing
// to a blank accumulator and then turning every section into its Lagrange form with FFTs over curve
// points, about 4x per extra power (18 min at power 16 on 2 cores). Knowing tau, every point is one
// multiple of a generator instead: the powers of tau = 2 are a chain of doublings, the Lagrange
// polynomials of each domain of 2^p roots of unity evaluated at tau are cheap field arithmetic, and their
// multiples come from a fixed-base comb in worker threads, each with its own instance of the curve
// library's WASM module (ffjavascript, which snarkjs installs). Layout (read from snarkjs's
// powersoftau_new.js and powersoftau_preparephase2.js, and @iden3/binfileutils):
// a binfile "ptau" v1 of 11 sections; affine points in the library's little-endian Montgomery form.
//   1 header: n8, q, power, ceremony power      2 tau^i G1, i < 2^(power+1)-1      3 tau^i G2, i < 2^power
//   4 alpha tau^i G1, 5 beta tau^i G1, i < 2^power                                    6 beta G2
//   7 contributions: none (`snarkjs powersoftau verify` refuses the file; zkey new does not read them)
//   12..15 sections 2..5 in Lagrange form for every domain 2^p, p = 0..power (and power+1 for 12, its
//   top coefficient taken as zero, as prepare phase 2 does).
// RESULT.json gets {"samples": [wall s], "cpu": [cpu s], "data": {...}} (the tracker's stage protocol) once
// the file is whole.
"use strict";

const fs = require("fs");
const path = require("path");
const os = require("os");
const { createRequire } = require("module");
const { Worker, isMainThread, parentPort, workerData } = require("worker_threads");

const TAU = 2n;  // known secrets: insecure by design, the same on every machine; tau = 2 (doublings)
const ALPHA = 3;  // alpha and beta below 256: their multiples take one byte of double-and-add
const BETA = 5;

// the scalars as 32-byte little-endian integers (out of the field's Montgomery form)
function scalarsBuffer(Fr, list) {
  const out = new Uint8Array(list.length * Fr.n8);
  list.forEach((s, i) => Fr.toRprLE(out, i * Fr.n8, s));
  return out;
}

function powers(Fr, first, tau, count) {
  const out = [first];
  for (let i = 1; i < count; i++) out.push(Fr.mul(out[i - 1], tau));
  return out;
}

function batchInverse(Fr, xs) {
  // Montgomery's trick: every inverse from one field inversion
  const prefix = [];
  let acc = Fr.one;
  for (const x of xs) { prefix.push(acc); acc = Fr.mul(acc, x); }
  let inv = Fr.inv(acc);
  const out = new Array(xs.length);
  for (let i = xs.length - 1; i >= 0; i--) {
    out[i] = Fr.mul(inv, prefix[i]);
    inv = Fr.mul(inv, xs[i]);
  }
  return out;
}

// L_i(tau) over the 2^p-th roots of unity w^i: (tau^n - 1) / n * w^i / (tau - w^i). With `dropTop`, the
// Lagrange form of the coefficients tau^0..tau^(n-2) and 0 (prepare phase 2's extra tauG1 domain): the
// inverse FFT is linear, so the missing tau^(n-1) term, tau^(n-1)/n * w^i, is taken off.
function lagrange(Fr, tau, p, dropTop) {
  const n = 2 ** p;
  const ws = powers(Fr, Fr.one, Fr.w[p], n);
  const nInv = Fr.inv(Fr.e(n));
  const c = Fr.mul(Fr.sub(Fr.exp(tau, n), Fr.one), nInv);
  const inv = batchInverse(Fr, ws.map((w) => Fr.sub(tau, w)));
  const top = Fr.mul(Fr.exp(tau, n - 1), nInv);
  return ws.map((w, i) => {
    const l = Fr.mul(c, Fr.mul(w, inv[i]));
    return dropTop ? Fr.sub(l, Fr.mul(top, w)) : l;
  });
}

function lagrangeSections(Fr, tau, power) {
  const all = [];
  for (let p = 0; p <= power; p++) for (const l of lagrange(Fr, tau, p, false)) all.push(l);
  return { plain: all, tauG1: all.concat(lagrange(Fr, tau, power + 1, true)) };
}

// The multiples run in worker threads, each with its own instance of the curve library's WASM module
// (ffjavascript's task queue sends one message per call, too slow for a call per table entry).
async function inWorkers(curve, group, job, items, itemSize, threads) {
  const count = items.byteLength / itemSize, per = Math.ceil(count / threads);
  const base = { ...job, code: curve.tm.code, group, gen: group === "G1" ? curve.tm.pG1gen : curve.tm.pG2gen };
  const jobs = [];
  for (let t = 0; t * per < count; t++) {
    const part = items.subarray(t * per * itemSize, Math.min(count, (t + 1) * per) * itemSize);
    jobs.push(new Promise((resolve, reject) => {
      const w = new Worker(__filename, { workerData: { ...base, items: part } });
      w.once("message", resolve);
      w.once("error", reject);
      w.once("exit", (c) => c !== 0 && reject(new Error(`ptau worker exited with ${c}`)));
    }));
  }
  const parts = await Promise.all(jobs);
  return Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
}

// s_i * generator for every scalar of every list, affine, as one buffer
function timesGenerator(curve, group, lists, threads) {
  return inWorkers(curve, group, { op: "comb" }, scalarsBuffer(curve.Fr, [].concat(...lists)), 32, threads);
}

// tau^i * generator for i < count, in one worker: doublings, so tau must be 2
async function tauPowers(curve, group, count) {
  if (TAU !== 2n) throw new Error("the powers of tau are doublings: TAU must be 2");
  return inWorkers(curve, group, { op: "doublings", count }, new Uint8Array(1), 1, 1);
}

// k * P for every affine point P: alpha and beta are small, so this is a few doublings a point
function timesSmall(curve, group, points, k, threads) {
  return inWorkers(curve, group, { op: "small", k }, points, curve[group].F.n8 * 2, threads);
}

function wasmCurve({ code, group }, scratch) {
  const g = group === "G1" ? { f: "g1m", n8: 32 } : { f: "g2m", n8: 64 };
  const memory = new WebAssembly.Memory({ initial: 25 });
  const ex = new WebAssembly.Instance(new WebAssembly.Module(code), { env: { memory } }).exports;
  const call = (name, ...args) => ex[`${g.f}_${name}`](...args);
  let free = new Uint32Array(memory.buffer, 0, 1)[0];
  // the module keeps its free-memory pointer at address 0 and takes scratch space (batch inversions)
  // past it: `done` moves it past what was allocated and makes room for the scratch
  const alloc = (len) => { const p = (free + 7) & ~7; free = p + len; return p; };
  const done = () => {
    memory.grow(Math.max(0, Math.ceil((free + scratch) / 65536) - memory.buffer.byteLength / 65536));
    new Uint32Array(memory.buffer, 0, 1)[0] = free;
  };
  return { call, alloc, done, memory, sA: 2 * g.n8, sJ: 3 * g.n8 };
}

const BATCH = 1024;  // points converted to affine at once

// the comb's window: the fewest additions for this many scalars, the table's 2^w entries a window counted
function combWindow(n) {
  let best = 8, bestCost = Infinity;
  for (let w = 4; w <= 12; w++) {
    const cost = Math.ceil(254 / w) * (2 ** w + n);
    if (cost < bestCost) { best = w; bestCost = cost; }
  }
  return best;
}

// bits [at, at + w) of the little-endian integer in bytes[o .. o + 32)
function digit(bytes, o, at, w) {
  let v = 0;
  for (let b = Math.floor(at / 8), shift = -(at % 8); shift < w && b < 32; b++, shift += 8) {
    v |= shift >= 0 ? bytes[o + b] << shift : bytes[o + b] >> -shift;
  }
  return v & ((1 << w) - 1);
}

// a fixed-base comb: a table of j * 2^(wk) * G, then one mixed addition per w-bit digit of the scalar
// (about 24, where double-and-add takes about 380 operations)
function combWorker(job) {
  const scalars = job.items, n = scalars.byteLength / 32;
  const w = combWindow(n), rows = Math.ceil(254 / w), size = 2 ** w, entries = rows * size;
  const { call, alloc, done, memory, sA, sJ } = wasmCurve(job, 2 * entries * 3 * 64);
  const pTable = alloc(entries * sA), pRows = alloc(entries * sJ), pOut = alloc(BATCH * sJ);
  done();
  // row k holds j * 2^(wk) * G for 0 < j < 2^w; 2^(w(k+1)) G = 2 * (2^(w-1) * row base). Slot 0 is
  // never read but holds a point all the same: a zero would zero the batch inversion of batchToAffine
  call("copy", job.gen, pRows + sJ);
  for (let k = 0; k < rows; k++) {
    const row = pRows + k * size * sJ;
    if (k > 0) call("double", row - (size / 2) * sJ, row + sJ);
    call("copy", row + sJ, row);
    call("double", row + sJ, row + 2 * sJ);
    for (let j = 3; j < size; j++) call("add", row + (j - 1) * sJ, row + sJ, row + j * sJ);
  }
  call("batchToAffine", pRows, entries, pTable);
  return batches(n, sA, memory, pOut, (i, acc) => {
    call("zero", acc);  // every scalar here is nonzero, so no zero reaches batchToAffine
    for (let k = 0; k < rows; k++) {
      const d = digit(scalars, i * 32, k * w, w);
      if (d) call("addMixed", acc, pTable + (k * size + d) * sA, acc);
    }
  }, call);
}

// 2^i * G for i < count: tau is 2, so the powers of tau are a chain of doublings
function doublingsWorker(job) {
  const { call, alloc, done, memory, sA, sJ } = wasmCurve(job, 2 * BATCH * 3 * 64);
  const pPrev = alloc(sJ), pOut = alloc(BATCH * sJ);
  done();
  call("copy", job.gen, pPrev);
  return batches(job.count, sA, memory, pOut, (i, acc) => {
    if (i > 0) call("double", pPrev, pPrev);
    call("copy", pPrev, acc);
  }, call);
}

function smallWorker(job) {
  const { call, alloc, done, memory, sA, sJ } = wasmCurve(job, 2 * BATCH * 3 * 64);
  const n = job.items.byteLength / sA;
  const pIn = alloc(BATCH * sA), pK = alloc(4), pOut = alloc(BATCH * sJ);
  done();
  new Uint8Array(memory.buffer)[pK] = job.k;
  let loaded = -1;
  return batches(n, sA, memory, pOut, (i, acc) => {
    const first = i - (i % BATCH);
    if (first !== loaded) {
      new Uint8Array(memory.buffer).set(job.items.subarray(first * sA, Math.min(n, first + BATCH) * sA), pIn);
      loaded = first;
    }
    call("timesScalarAffine", pIn + (i - first) * sA, pK, 1, acc);
  }, call);
}

// point i computed by `one(i, jacobianSlot)`, BATCH at a time, then made affine into the output
function batches(n, sA, memory, pOut, one, call) {
  const sJ = sA / 2 * 3;
  const out = new Uint8Array(n * sA);
  for (let start = 0; start < n; start += BATCH) {
    const m = Math.min(BATCH, n - start);
    for (let i = 0; i < m; i++) one(start + i, pOut + i * sJ);
    call("batchToAffine", pOut, m, pOut);
    out.set(new Uint8Array(memory.buffer, pOut, m * sA), start * sA);
  }
  return out;
}

// the points of one pass cut back into the lists their scalars came in
function split(points, lists, size) {
  let at = 0;
  return lists.map((l) => { const part = points.subarray(at, at + l.length * size); at += l.length * size; return part; });
}

function u32(v) { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; }
function u64(v) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; }

function header(curve, power, Scalar) {
  const q = new Uint8Array(curve.F1.n8);
  Scalar.toRprLE(q, 0, curve.q, curve.F1.n8);
  return Buffer.concat([u32(curve.F1.n8), Buffer.from(q), u32(power), u32(power)]);
}

function writeFile(out, sections) {
  const fd = fs.openSync(out, "w");
  try {
    fs.writeSync(fd, Buffer.concat([Buffer.from("ptau"), u32(1), u32(sections.length)]));
    for (const [id, data] of sections) {
      fs.writeSync(fd, Buffer.concat([u32(id), u64(data.byteLength)]));
      fs.writeSync(fd, data);
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

async function makePtau(ff, power, out) {
  const t0 = process.hrtime.bigint(), cpu0 = process.cpuUsage();
  const curve = await ff.buildBn128(true);  // one thread: the multiples run in workers of their own
  try {
    const Fr = curve.Fr;
    const tau = Fr.e(TAU), beta = Fr.e(BETA);
    const n = 2 ** power;
    const lag = lagrangeSections(Fr, tau, power);
    const t1 = process.hrtime.bigint();
    const threads = Math.max(1, os.availableParallelism ? os.availableParallelism() : os.cpus().length);
    const [tauG1, tauG2] = await Promise.all([tauPowers(curve, "G1", 2 * n - 1), tauPowers(curve, "G2", n)]);
    const lagG1 = await timesGenerator(curve, "G1", [lag.tauG1], threads);
    const lagG2 = await timesGenerator(curve, "G2", [lag.plain], threads);
    const betaG2 = await timesGenerator(curve, "G2", [[beta]], 1);
    // alpha and beta times the first 2^power powers and the Lagrange sections of domains up to 2^power
    const lists = [{ length: n }, lag.plain];
    const from = Buffer.concat([tauG1.subarray(0, n * 64), lagG1.subarray(0, lag.plain.length * 64)]);
    const [alphaTau, alphaLag] = split(await timesSmall(curve, "G1", from, ALPHA, threads), lists, 64);
    const [betaTau, betaLag] = split(await timesSmall(curve, "G1", from, BETA, threads), lists, 64);
    const sections = [[1, header(curve, power, ff.Scalar)], [2, tauG1], [3, tauG2], [4, alphaTau], [5, betaTau],
                      [6, betaG2], [7, u32(0)], [12, lagG1], [13, lagG2], [14, alphaLag], [15, betaLag]];
    const t2 = process.hrtime.bigint();
    writeFile(out, sections);
    const points = 2 * n - 1 + 3 * n + 1 + lag.tauG1.length + 3 * lag.plain.length;
    const s = (a, b) => Number(b - a) / 1e9;
    const cpu = process.cpuUsage(cpu0);  // this process's, its worker threads included
    return { samples: [s(t0, process.hrtime.bigint())], cpu: [(cpu.user + cpu.system) / 1e6],
             data: { scalars_s: s(t0, t1), points_s: s(t1, t2), points, tau: String(TAU), alpha: String(ALPHA),
                     beta: String(BETA), threads } };
  } finally {
    await curve.terminate();
  }
}

async function main(argv) {
  if (argv.length !== 4 || !/^\d+$/.test(argv[1])) {
    console.error("usage: ptau_writer.js NPM_PREFIX POWER OUT.ptau RESULT.json");
    return 2;
  }
  const [prefix, power, out, result] = [argv[0], Number(argv[1]), argv[2], argv[3]];
  if (power < 1 || power > 28) {
    console.error(`power ${power}: bn128's scalar field has roots of unity up to 2^28`);
    return 2;
  }
  const ff = createRequire(path.join(prefix, "package.json"))("ffjavascript");
  const data = await makePtau(ff, power, out);
  fs.writeFileSync(result, JSON.stringify(data, null, 1));
  return 0;
}

if (!isMainThread) {
  const out = { comb: combWorker, small: smallWorker, doublings: doublingsWorker }[workerData.op](workerData);
  parentPort.postMessage(out, [out.buffer]);
} else main(process.argv.slice(2)).then((code) => process.exit(code), (err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
