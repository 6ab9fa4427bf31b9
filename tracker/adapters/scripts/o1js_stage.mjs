// One stage of the o1js pipeline, run by tracker/adapters/o1js.py:
//   node o1js_stage.mjs <stage> <args.json> <result.json>
// Stages: accuracy (the forward pass on every evaluation input, witness only: Field arithmetic outside
// any proof; and the method's rows from analyzeMethods), setup (the program's compile: circuit and
// keys), prove, verify, and
// forward (the same pass in plain BigInt arithmetic, no o1js needed: the generator's own check).
// Writes {"samples": [...], "cpu": [...], "data": {...}} (and prove's "peak_rss", each repeat's own
// peak memory); only the work is timed, not node's start-up.
//
// The o1js releases differ in how a ZkProgram is written and called; `api` below is the one place that
// knows it (checked against 0.12.1, 0.15.4, 1.9.1 and 2.15.0 here):
//   0.x: methods are synchronous and return the public output; a call resolves to the proof.
//   1.x: methods are async and return the public output; a call resolves to the proof.
//   2.x: methods are async and return { publicOutput }; a call resolves to { proof }.
// ZkProgram sits in `Experimental` before 0.15 (and needs no name there); `Cache` (compile's cache
// option) exists from 0.14: before, the compile cache lives under $HOME, which the tracker puts in the
// stage's work dir and the setup stage empties first.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { resultJson, timed } from './timing.mjs';

const [stage, argsFile, resultFile] = process.argv.slice(2);
const args = JSON.parse(fs.readFileSync(argsFile, 'utf8'));

function write(samples, cpu, data, peaks = []) {
  fs.writeFileSync(resultFile, resultJson(samples, cpu, data, peaks));
}

function unsupported(reason) {
  const err = new Error(reason);
  err.unsupported = true;
  return err;
}

async function loadO1js() {
  const root = path.join(args.prefix, 'node_modules', 'o1js');
  const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;
  const o1 = await import(pathToFileURL(path.join(root, 'dist', 'node', 'index.js')).href);
  return { o1, version, major: Number(version.split('.')[0]) };
}

function api({ o1, version, major }) {
  const ZkProgram = typeof o1.ZkProgram === 'function' ? o1.ZkProgram : o1.Experimental?.ZkProgram;
  if (typeof ZkProgram !== 'function') throw unsupported(`o1js ${version} exports no ZkProgram`);
  if (!o1.Provable?.Array) throw unsupported(`o1js ${version} has no Provable.Array`);
  return {
    ZkProgram,
    // a method body as this release wants it: sync before 1.0, async after, { publicOutput } from 2.0
    method(body) {
      if (major === 0) return body;
      if (major === 1) return async (...a) => body(...a);
      return async (...a) => ({ publicOutput: body(...a) });
    },
    proofOf(called) {
      return major >= 2 ? called.proof : called;
    },
    // the verification key's base64 data: compile resolves to { verificationKey: data } before 0.15 (seen
    // in 0.12.1 and 0.14.1) and to { verificationKey: { data, hash } } from it
    verificationKey(compiled) {
      const vk = compiled.verificationKey;
      return typeof vk === 'string' ? vk : vk.data;
    },
    compileOptions(dir) {
      return o1.Cache?.FileSystem ? { cache: o1.Cache.FileSystem(dir) } : undefined;
    },
  };
}

function fieldOps(o1, bound) {
  const { Field, Provable } = o1;
  const B = Field(bound);
  const nonNegative = (v) => v.add(B).greaterThanOrEqual(B);
  return {
      add: (a, b) => a.add(b),
    mul: (a, b) => a.mul(b),
    relu: (v) => Provable.if(nonNegative(v), v, Field(0)),
    max: (a, b) => Provable.if(nonNegative(a.sub(b)), a, b),
    of: (s) => Field(BigInt(s)),
  };
}

const bigintOps = {
  add: (a, b) => a + b,
  mul: (a, b) => a * b,
  relu: (v) => (v >= 0n ? v : 0n),
  max: (a, b) => (a >= b ? a : b),
  of: (s) => BigInt(s),
};

// a field element read back as a signed integer: p - v is -v
function signed(o1, f) {
  const v = f.toBigInt();
  const p = o1.Field.ORDER;
  return (v > p / 2n ? v - p : v).toString();
}

async function program(lib) {
  const model = await import(pathToFileURL(args.module).href);
  const { o1 } = lib;
  const A = api(lib);
  const ops = fieldOps(o1, model.BOUND);
  const Values = o1.Provable.Array(o1.Field, model.INPUTS + model.WEIGHTS);
  const Output = o1.Provable.Array(o1.Field, model.OUTPUTS);
  const body = (all) => model.forward(ops, all.slice(0, model.INPUTS), all.slice(model.INPUTS));
  const zk = A.ZkProgram({
    name: 'zkml_tracker_model',
    publicOutput: Output,
    methods: { infer: { privateInputs: [Values], method: A.method(body) } },
  });
  const values = (image) => [...image, ...args.weights].map(ops.of);
  return { zk, A, model, ops, values };
}

async function methodRows(zk) {
  const analysis = await zk.analyzeMethods();
  const infer = Array.isArray(analysis) ? analysis[0] : analysis.infer ?? Object.values(analysis)[0];
  return infer?.rows;
}

async function setup(lib) {
  fs.rmSync(args.cache, { recursive: true, force: true });
  fs.rmSync(path.join(process.env.HOME, '.cache'), { recursive: true, force: true });
  fs.mkdirSync(args.cache, { recursive: true });
  const { zk, A } = await program(lib);
  const t = await timed(() => zk.compile(A.compileOptions(args.cache)));
  fs.writeFileSync(args.vk, JSON.stringify({ data: A.verificationKey(t.value) }));
  write([t.wall], [t.cpu], { o1js: lib.version });
}

async function prove(lib) {
  const { zk, A, values } = await program(lib);
  const compiled = await timed(() => zk.compile(A.compileOptions(args.cache)));  // the keys from setup's cache
  const samples = [], cpu = [], peaks = [];
  let proof;
  for (let i = 0; i < args.repeats; i++) {
    const t = await timed(() => zk.infer(values(args.image)));
    proof = A.proofOf(t.value);
    samples.push(t.wall);
    cpu.push(t.cpu);
    peaks.push(t.peak);
  }
  const json = proof.toJSON();
  fs.writeFileSync(args.proof, JSON.stringify(json));
  write(samples, cpu, { outputs: proof.publicOutput.map((f) => signed(lib.o1, f)), recompile_s: compiled.wall },
    peaks);
}

// A verification that never returns sleeps inside o1js with the main thread blocked, so no timer of this
// thread can see it: a worker thread watches the process's CPU time, and where it stays below
// ASLEEP_CPU_SHARE of the wall time for ASLEEP_S (a real verification on this 2-core machine at load 17
// still gets about 0.12; the hung ones above got 0.01-0.04), it records the release `unsupported` with
// what it saw and ends the process, instead of leaving it to the stage's timeout.
const ASLEEP_S = 180, ASLEEP_CPU_SHARE = 0.05;

function watchForSleep(what) {
  const source = `
    const { workerData: w } = require('node:worker_threads');
    const fs = require('node:fs');
    const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
    const seen = [[Date.now() / 1000, cpu()]];
    setInterval(() => {
      const now = [Date.now() / 1000, cpu()];
      seen.push(now);
      while (now[0] - seen[0][0] > w.window + 1) seen.shift();
      const [t0, c0] = seen[0], wall = now[0] - t0, used = now[1] - c0;
      if (wall >= w.window - 1 && used < w.share * wall) {
        fs.writeFileSync(w.marker, w.what + ' never returns here: the process slept (' + used.toFixed(1) +
          ' s of CPU in ' + wall.toFixed(0) + ' s)');
        process.kill(process.pid, 'SIGKILL');
      }
    }, 10000);`;
  const worker = new Worker(source, { eval: true, workerData: {
    window: ASLEEP_S, share: ASLEEP_CPU_SHARE, what, marker: resultFile + '.unsupported' } });
  worker.unref();
}

async function verify(lib) {
  watchForSleep(`o1js ${lib.version}'s verification`);
  const json = JSON.parse(fs.readFileSync(args.proof, 'utf8'));
  const vk = JSON.parse(fs.readFileSync(args.vk, 'utf8')).data;
  const verifier = await verifierOf(lib, vk);
  const check = await verifier.prepare(json);
  // the first verification in a process also makes the verifier's reference string and Lagrange bases
  // (tens of seconds of CPU): timed apart, as `cold_s`; the samples are the verifications after it.
  const cold = await timed(check);
  if (cold.value !== true) throw new Error('verify: the proof was rejected');
  const samples = [], cpu = [];
  for (let i = 0; i < args.repeats; i++) {
    const t = await timed(check);
    if (t.value !== true) throw new Error('verify: the proof was rejected');
    samples.push(t.wall);
    cpu.push(t.cpu);
  }
  // a verifier that accepts anything would be fast: the same proof claiming another output must fail
  if (await accepts(await verifier.prepare(altered(json, lib.o1.Field.ORDER)))) {
    throw new Error('verify: a proof whose public output was altered was accepted');
  }
  write(samples, cpu, { cold_s: cold.wall, cold_cpu_s: cold.cpu, via: verifier.via, warm_s: verifier.warm_s,
    rejects_altered_output: true });
}

// How a release verifies a proof read back from JSON: `prepare(json)` resolves to the check to time.
// In 0.x verify(proof, vk) throws inside Pickles (0.12.1: "Cannot read properties of undefined", with the
// vk then written as undefined) or never returns (0.12.1 and 0.14.1 with the vk's data: asleep, no
// CPU): there, the program's own verify after a compile from the setup's cache. From 0.14 to 1.x a
// verification never returns in a process that has not proved (0.14.1, 0.15.1: asleep, 11 s of CPU in 17
// minutes; 1.8.0's verify(proof, vk): 15 s of CPU in 6 minutes), and does after one proof in the same
// process (0.14.1): there the stage compiles from the cache and proves once first (`warm_s`, outside the
// samples and the cold verification). 2.15.0 verifies in a fresh process.
async function verifierOf(lib, vk) {
  const minor = Number(lib.version.split('.')[1]);
  const warmFirst = lib.major === 1 || (lib.major === 0 && minor >= 14);
  const direct = { via: 'verify(proof, vk)', prepare: async (json) => () => lib.o1.verify(json, vk) };
  if (lib.major > 0 && !warmFirst) return direct;
  const { zk, A, values } = await program(lib);
  await zk.compile(A.compileOptions(args.cache));
  const warm = warmFirst ? await timed(() => zk.infer(values(args.image))) : undefined;
  const after = warm ? ', after one proof in the process (0.14 to 1.x: a verification before any never returns)' : '';
  if (lib.major > 0) return { ...direct, via: direct.via + after, warm_s: warm.wall };
  const ProofClass = (lib.o1.ZkProgram?.Proof ?? lib.o1.Experimental.ZkProgram.Proof)(zk);
  return {
    via: "the program's verify after a compile from cache (0.x: verify(proof, vk) throws or hangs)" + after,
    warm_s: warm?.wall,
    prepare: async (json) => {
      const proof = await ProofClass.fromJSON(json);
      return () => zk.verify(proof);
    },
  };
}

function altered(json, order) {
  const publicOutput = [...json.publicOutput];
  publicOutput[0] = ((BigInt(publicOutput[0]) + 1n) % order).toString();
  return { ...json, publicOutput };
}

async function accepts(check) {
  try {
    return (await check()) === true;
  } catch {
    return false;  // some releases throw on a proof they reject
  }
}

async function accuracy(lib) {
  const { zk, model, ops, values } = await program(lib);
  const t = await timed(() => args.images.map((image) => {
    const all = values(image);
    return model.forward(ops, all.slice(0, model.INPUTS), all.slice(model.INPUTS)).map((f) => signed(lib.o1, f));
  }));
  write([t.wall], [t.cpu], { outputs: t.value, rows: await methodRows(zk), o1js: lib.version });
}

async function forward() {
  const model = await import(pathToFileURL(args.module).href);
  const w = args.weights.map(BigInt);
  const t = await timed(() => args.images.map((image) =>
    model.forward(bigintOps, image.map(BigInt), w).map(String)));
  write([t.wall], [t.cpu], { outputs: t.value });
}

const STAGES = { setup, prove, verify, accuracy };

try {
  if (stage === 'forward') await forward();
  else if (STAGES[stage]) await STAGES[stage](await loadO1js());
  else throw new Error(`unknown stage ${stage}`);
  process.exit(0);  // o1js keeps worker threads alive
} catch (err) {
  console.error(err?.stack ?? String(err));
  if (err?.unsupported) fs.writeFileSync(resultFile + '.unsupported', String(err.message));
  process.exit(1);
}
