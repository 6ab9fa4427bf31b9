// One stage of the Noir + bb.js pipeline, run by tracker/adapters/noir.py:
//   node noir_stage.mjs <stage> <args.json> <result.json>
// Stages: accuracy (noir_wasm compiles the generated project; noir_js executes it on every evaluation
// input, witness only, and keeps the first input's witness for the proof), setup (UltraHonk's
// verification key from the ACIR: the circuit is built and committed to; also the circuit's gate count),
// prove, verify. Writes {"samples": [...], "cpu": [...], "data": {...}}; only the work is timed: node's
// start-up, bb.js's WASM instantiation and the CRS load (srsInitSrs) are not.
//
// bb.js's low-level API (acirGetCircuitSizes, acirInitSRS, acirWriteVkUltraHonk, acirProveUltraHonk,
// acirVerifyUltraHonk) has these names from 0.72 to 0.85, the releases the adapter runs; before 0.85
// the key and the proof also take a `recursive` flag (false here), told by the methods' arity. The CRS
// directory is the tracker's known-tau one (tracker/adapters/bbcrs.py), so nothing is downloaded.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { resultJson, timed } from './timing.mjs';

const [stage, argsFile, resultFile] = process.argv.slice(2);
const args = JSON.parse(fs.readFileSync(argsFile, 'utf8'));
const req = createRequire(path.join(args.prefix, 'package.json'));
const P = 21888242871839275222246405745257275088548364400416034343698204186575808495617n; // bn254's r

async function repeated(fn) {
  const samples = [], cpu = [], peaks = [];
  let value;
  for (let i = 0; i < args.repeats; i++) {
    const t = await timed(fn);
    samples.push(t.wall); cpu.push(t.cpu); peaks.push(t.peak); value = t.value;
  }
  return { samples, cpu, peaks, value };
}

function write(samples, cpu, data, peaks = []) {
  fs.writeFileSync(resultFile, resultJson(samples, cpu, data, peaks));
}

const field = (v) => { const b = BigInt(v); return (b < 0n ? b + P : b).toString(); };
const signed = (hex) => { const b = BigInt(hex); return (b > P / 2n ? b - P : b).toString(); };
const load = async (name) => import(pathToFileURL(req.resolve(name)).href);
const version = (name) => JSON.parse(fs.readFileSync(path.join(args.prefix, 'node_modules', name, 'package.json'))).version;

async function accuracy() {
  const { compile, createFileManager } = await load('@noir-lang/noir_wasm');
  const { Noir } = await load('@noir-lang/noir_js');
  const built = await timed(() => compile(createFileManager(args.project), undefined, () => {}, () => {}));
  const program = built.value.program;
  fs.writeFileSync(args.artifact, JSON.stringify(program));
  const noir = new Noir(program);
  const w = args.weights.map(field);
  const outputs = [];
  const run = await timed(async () => {
    for (const [i, image] of args.images.entries()) {
      const { witness, returnValue } = await noir.execute({ x: image.map(field), w });
      if (i === 0) fs.writeFileSync(args.witness, witness);
      outputs.push(returnValue.map(signed));
    }
  });
  write([built.wall + run.wall], [built.cpu + run.cpu], {
    outputs, noir_version: program.noir_version, compile_s: built.wall, execute_s: run.wall,
    noir_wasm: version('@noir-lang/noir_wasm'),
  });
}

async function backend() {
  const bb = await load('@aztec/bb.js');
  const api = await bb.Barretenberg.new({ crsPath: args.crs, threads: args.threads });
  const program = JSON.parse(fs.readFileSync(args.artifact, 'utf8'));
  const acir = zlib.gunzipSync(Buffer.from(program.bytecode, 'base64'));
  const sizes = await api.acirGetCircuitSizes(acir, false, true);
  await api.acirInitSRS(acir, false, true);
  const flag = api.acirWriteVkUltraHonk.length === 2 ? [false] : [];  // `recursive`, before 0.85
  return { bb, api, acir, sizes, flag };
}

async function setup() {
  const { api, acir, sizes, flag } = await backend();
  const run = await repeated(() => api.acirWriteVkUltraHonk(acir, ...flag));
  fs.writeFileSync(args.vk, run.value);
  write(run.samples, run.cpu, { gates: sizes[0], dyadic: sizes[sizes.length - 1], bbjs: version('@aztec/bb.js') });
  await api.destroy();
}

async function prove() {
  const { bb, api, acir, flag } = await backend();
  const witness = zlib.gunzipSync(fs.readFileSync(args.witness));
  const run = await repeated(() => api.acirProveUltraHonk(acir, ...flag, witness));
  fs.writeFileSync(args.proof, run.value);
  // the program's outputs are the first public inputs; where they sit in the proof is bb.js's own
  // splitHonkProof's to say (before 0.82 it reads their count from a header, after it takes the count)
  const { publicInputs } = bb.splitHonkProof.length === 1 ? bb.splitHonkProof(run.value)
    : bb.splitHonkProof(run.value, args.outputs);
  const outputs = [];
  for (let i = 0; i < args.outputs; i++) {
    outputs.push(signed('0x' + Buffer.from(publicInputs.subarray(32 * i, 32 * (i + 1))).toString('hex')));
  }
  write(run.samples, run.cpu, { proof_bytes: run.value.length, outputs }, run.peaks);
  await api.destroy();
}

async function verify() {
  const { bb, api } = await backend();
  const proof = fs.readFileSync(args.proof), vk = new bb.RawBuffer(fs.readFileSync(args.vk));
  const run = await repeated(() => api.acirVerifyUltraHonk(proof, vk));
  if (run.value !== true) throw new Error(`bb.js ${version('@aztec/bb.js')}: the proof did not verify`);
  write(run.samples, run.cpu, { verified: true });
  await api.destroy();
}

const STAGES = { accuracy, setup, prove, verify };
try {
  await STAGES[stage]();
  process.exit(0);
} catch (err) {
  console.error(err?.stack || String(err));
  process.exit(1);
}
