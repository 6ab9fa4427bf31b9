#!/usr/bin/env node
// One circom/snarkjs stage, run by node against the npm prefix of one build (circom2, snarkjs, circomlib-ml).
//
//     node circom_stage.js STAGE ARGS.json RESULT.json
//
// STAGE is compile, setup, witness, prove, verify or accuracy (or bare: the five proving stages in
// one process, for bench/tracker_cost.py; accuracy-part ARGS.json FROM TO is one worker the accuracy
// stage forks, answering over IPC); ARGS.json holds the paths and
// settings (and `prefix`, the npm prefix the packages are loaded from); RESULT.json gets
// {"samples": [...], "cpu": [...], "data": {...}}, written only when the stage succeeded (and prove's
// "peak_rss": each repeat's own peak memory, peak.cjs).
//
// Everything runs in this one process through the packages' JavaScript APIs (circom2's CircomRunner,
// snarkjs's groth16 / zKey, circom_runtime's witness calculator), so the samples time the work and not
// node's start-up or module loading. CPU figures are this process's (all its threads); the tracker
// measures the whole process tree's memory from outside, and prove each repeat's here. Nothing here touches the network: the powers
// of tau come from ptau_writer.js or a ceremony file the user gave.
"use strict";

const fs = require("fs");
const path = require("path");
const { createRequire } = require("module");
const { fork } = require("child_process");
const { resetPeak, peakBytes, allPeaks, clearedPeak } = require("./peak.cjs");

let snarkjs = null;  // loaded from the build's prefix once the args are read
let prefixRequire = null;

function now() {
  return { wall: process.hrtime.bigint(), cpu: process.cpuUsage() };
}

function since(t0) {
  const cpu = process.cpuUsage(t0.cpu);
  return { wall: Number(process.hrtime.bigint() - t0.wall) / 1e9, cpu: (cpu.user + cpu.system) / 1e6 };
}

async function timed(repeats, fn) {
  const samples = [], cpu = [], peaks = [];
  let out;
  for (let i = 0; i < Math.max(1, repeats | 0); i++) {
    const reset = resetPeak();
    const t0 = now();
    out = await fn();
    const t = since(t0);
    samples.push(t.wall);
    cpu.push(t.cpu);
    peaks.push(reset ? peakBytes() : null);
  }
  return { samples, cpu, peaks: allPeaks(peaks), out };
}

const quiet = { debug() {}, info() {}, warn() {}, error(m) { console.error(m); } };

// --- compile: circom2 (circom as WASI) in this process ----------------------------------------------

async function compileOnce(a) {
  process.chdir(a.cwd);  // paths below are relative to it: circom2 sees only preopened directories
  const { CircomRunner, bindings } = prefixRequire("circom2");
  const wasm = fs.readFileSync(prefixRequire.resolve("circom2/circom.wasm"));
  // preopened: the working dir and every parent, as relative paths (like circom2's CLI); in practice
  // circom2 0.2.23 still opens nothing outside the working dir, so the templates are copied into it
  const rel = (p) => path.relative(process.cwd(), p) || ".";
  const preopens = {};
  for (let dir = process.cwd(); ; dir = path.dirname(dir)) {
    preopens[rel(dir)] = rel(dir);
    if (path.dirname(dir) === dir) break;
  }
  const args = [rel(a.circuit), "--r1cs", "--wasm", "-o", rel(a.outdir)];
  for (const inc of a.includes) args.push("-l", rel(inc));
  fs.mkdirSync(a.outdir, { recursive: true });
  const runner = new CircomRunner({ args, env: {}, preopens, bindings: { ...bindings, fs } });
  await runner.execute(wasm);
}

async function stageCompile(a) {
  const t = await timed(1, () => compileOnce(a));
  const r1cs = path.join(a.outdir, a.name + ".r1cs");
  if (!fs.existsSync(r1cs)) throw new Error(`circom wrote no ${r1cs}`);
  const info = await snarkjs.r1cs.info(r1cs, null);
  const data = {};
  for (const k of ["nConstraints", "nVars", "nOutputs", "nPubInputs", "nPrvInputs", "nLabels"]) {
    data[k] = Number(info[k]);
  }
  return { samples: t.samples, cpu: t.cpu, data };
}

// --- setup: the circuit-specific phase 2 (new zkey, one contribution) and the verification key ---------

async function stageSetup(a) {
  const t = await timed(a.setup_repeats || 1, async () => {
    const z0 = a.zkey + ".0";
    try {
      const ok = await snarkjs.zKey.newZKey(a.r1cs, a.ptau, z0, quiet);
      if (ok === false || ok === -1) throw new Error("newZKey failed (is the ptau too small for the circuit?)");
      await snarkjs.zKey.contribute(z0, a.zkey, "zkml-tracker", a.entropy, quiet);
    } finally {
      fs.rmSync(z0, { force: true });
    }
    return snarkjs.zKey.exportVerificationKey(a.zkey, quiet);
  });
  fs.writeFileSync(a.vk, JSON.stringify(t.out, null, 1));
  return { samples: t.samples, cpu: t.cpu, data: {} };
}

// --- witness, prove, verify ---------------------------------------------------------------------------

async function stageWitness(a) {
  const input = JSON.parse(fs.readFileSync(a.input, "utf8"));
  const t = await timed(1, () => snarkjs.wtns.calculate(input, a.wasm, a.wtns));
  return { samples: t.samples, cpu: t.cpu, data: {} };
}

async function stageProve(a) {
  const t = await timed(a.repeats, () => snarkjs.groth16.prove(a.zkey, a.wtns, quiet));
  fs.writeFileSync(a.proof, JSON.stringify(t.out.proof, null, 1));
  fs.writeFileSync(a.public, JSON.stringify(t.out.publicSignals, null, 1));
  return { samples: t.samples, cpu: t.cpu, peak_rss: t.peaks, data: { public_signals: t.out.publicSignals.length } };
}

async function stageVerify(a) {
  const vk = JSON.parse(fs.readFileSync(a.vk, "utf8"));
  const pub = JSON.parse(fs.readFileSync(a.public, "utf8"));
  const proof = JSON.parse(fs.readFileSync(a.proof, "utf8"));
  const t = await timed(a.repeats, () => snarkjs.groth16.verify(vk, pub, proof, quiet));
  if (t.out !== true) throw new Error("proof rejected: groth16.verify returned " + String(t.out));
  return { samples: t.samples, cpu: t.cpu, data: { verified: true } };
}

// --- accuracy: the circuit's outputs for every evaluation input, from witnesses alone --------------------

function signed(v, prime) {
  return (v > prime / 2n ? v - prime : v).toString();
}

// below this many inputs a worker's start-up (node, the witness calculator's WASM) outweighs its share
const MIN_WITNESSES_PER_WORKER = 100;

// With `workers` > 1 the inputs are split into that many contiguous parts, each witnessed by a forked
// process of its own (its CPU figures are then its own; the tracker sees the whole tree's memory): at
// 2,500 inputs this pass is most of a run's time. Outputs come back in input order.
async function stageAccuracy(a, argsFile) {
  const inputs = JSON.parse(fs.readFileSync(a.inputs, "utf8"));
  const n = inputs.length;
  const workers = Math.max(1, Math.min(a.workers | 0 || 1, Math.floor(n / MIN_WITNESSES_PER_WORKER)));
  const size = Math.ceil(n / workers);
  const parts = [];
  for (let i = 0; i < workers; i++) parts.push([i * size, Math.min(n, (i + 1) * size)]);
  const done = workers === 1 ? [await witnessOutputs(a, inputs)]
    : await Promise.all(parts.map(([lo, hi]) => forkedPart(argsFile, lo, hi)));
  const outputs = [], samples = [], cpu = [];
  for (const d of done) {
    outputs.push(...d.outputs);
    samples.push(...d.samples);
    cpu.push(...d.cpu);
  }
  return { samples, cpu, data: { outputs, workers } };
}

// inputs: per sample, `in` and any other signals the circuit takes besides the weights in a.input
async function witnessOutputs(a, inputs) {
  const { WitnessCalculatorBuilder } = prefixRequire("circom_runtime");
  const base = JSON.parse(fs.readFileSync(a.input, "utf8"));
  const wc = await WitnessCalculatorBuilder(fs.readFileSync(a.wasm));
  const prime = wc.prime;
  const outputs = [], samples = [], cpu = [];
  for (const x of inputs) {
    const t = await timed(1, () => outputSignals(wc, { ...base, ...x }, a.n_outputs));
    samples.push(...t.samples);
    cpu.push(...t.cpu);
    outputs.push(t.out.map((v) => signed(v, prime)));
  }
  return { outputs, samples, cpu };
}

// The main component's outputs: signals 1..n (signal 0 is the constant 1). circom 2's calculator can
// compute the witness and then read just those: `calculateWitness` turns every signal into a BigInt,
// 38 % of a witness's time on a 780,000-signal circuit. Other calculators go the long way.
async function outputSignals(wc, input, n) {
  const exports = wc.instance && wc.instance.exports;
  if (typeof wc._doCalculateWitness !== "function" || !exports || typeof exports.getWitness !== "function") {
    return (await wc.calculateWitness(input, true)).slice(1, 1 + n).map((v) => BigInt(v));
  }
  await wc._doCalculateWitness(input, true);
  const out = [];
  for (let i = 1; i <= n; i++) {
    exports.getWitness(i);
    let v = 0n;
    for (let j = wc.n32 - 1; j >= 0; j--) v = (v << 32n) + BigInt(exports.readSharedRWMemory(j) >>> 0);  // words come back as signed i32
    out.push(v);
  }
  return out;
}

function forkedPart(argsFile, lo, hi) {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, ["accuracy-part", argsFile, String(lo), String(hi)]);
    let part = null;
    child.on("message", (m) => { part = m; });
    child.on("error", reject);
    child.on("exit", (code, signal) => part ? resolve(part)
      : reject(new Error(`accuracy worker for inputs ${lo}-${hi} exited with ${signal || code}`)));
  });
}

async function accuracyPart(argsFile, lo, hi) {
  const a = JSON.parse(fs.readFileSync(argsFile, "utf8"));
  prefixRequire = createRequire(path.join(a.prefix, "package.json"));
  const inputs = JSON.parse(fs.readFileSync(a.inputs, "utf8")).slice(Number(lo), Number(hi));
  const part = await witnessOutputs(a, inputs);
  await new Promise((resolve, reject) => process.send(part, (err) => (err ? reject(err) : resolve())));
  return 0;
}

// --- bare: compile, witness, setup, prove and verify in this one process, as a user would by hand ---------
// (bench/tracker_cost.py sets its samples beside the ones the tracker recorded, stage by stage)

async function stageBare(a) {
  const stages = {};
  for (const [name, fn] of [["compile", stageCompile], ["witness", stageWitness], ["setup", stageSetup],
                            ["prove", stageProve], ["verify", stageVerify]]) {
    const r = await fn(a);
    stages[name] = { samples_s: r.samples, cpu_s: r.cpu };
  }
  return { samples: [], cpu: [], data: { stages } };
}

const STAGES = { compile: stageCompile, setup: stageSetup, witness: stageWitness,
                 prove: stageProve, verify: stageVerify, accuracy: stageAccuracy, bare: stageBare };

async function main(argv) {
  if (argv[0] === "accuracy-part" && argv.length === 4) return accuracyPart(...argv.slice(1));
  if (argv.length !== 3 || !STAGES[argv[0]]) {
    console.error(`usage: circom_stage.js {${Object.keys(STAGES).join(",")}} ARGS.json RESULT.json`);
    return 2;
  }
  const [stage, argsFile, resultFile] = argv;
  const a = JSON.parse(fs.readFileSync(argsFile, "utf8"));
  prefixRequire = createRequire(path.join(a.prefix, "package.json"));
  snarkjs = prefixRequire("snarkjs");
  // the curve (WASM field code and worker threads) is built once per process and cached by ffjavascript:
  // built here, outside the clock, so that the first sample times the stage like the others do; the
  // stages that only compile or compute witnesses never use it
  const t0 = now();
  if (!["compile", "witness", "accuracy"].includes(stage)) await snarkjs.curves.getCurveFromName("bn128");
  const warmup = since(t0).wall;
  const result = await STAGES[stage](a, argsFile);
  result.data.curve_init_s = warmup;
  result.peak_rss_cleared = clearedPeak();
  fs.writeFileSync(resultFile + ".tmp", JSON.stringify(result));
  fs.renameSync(resultFile + ".tmp", resultFile);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {  // one readable last line for the tracker's record; the stack stays above it
    console.error(err && err.stack ? err.stack : err);
    console.error(`circom ${process.argv[2]} failed: ${err && err.message ? err.message : err}`.slice(0, 400));
    process.exit(1);
  });
