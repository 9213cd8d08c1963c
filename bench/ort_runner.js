#!/usr/bin/env node
// ONNX Runtime peer for teesplit's benchmarks.
//
//   node bench/ort_runner.js MODEL.onnx --batch B --threads N --warmup W --runs R [--seed S]
//
// Loads MODEL with intraOpNumThreads=N, interOpNumThreads=1, sequential
// execution and graphOptimizationLevel 'all', runs W untimed and R timed
// inferences on one seeded random input [B,3,H,W] (H, W from the model's input,
// 224 when dynamic), and prints one JSON line:
//   {"peer":"onnxruntime","model":..,"batch":..,"threads":..,"times_ms":[..]}
// Only session.run() is timed. --input X.npy reads the input from a float32
// .npy file instead; --output Y.npy writes the last output (first output name).
// Exits non-zero with a message on stderr on error.
'use strict';

const fs = require('fs');
const path = require('path');

function usage(msg) {
  if (msg) process.stderr.write(`ort_runner: ${msg}\n`);
  process.stderr.write(
      'usage: ort_runner.js MODEL.onnx --batch B --threads N --warmup W --runs R [--seed S]\n');
  process.exit(2);
}

function parse_args(argv) {
  const a = {model: null, batch: 1, threads: 1, warmup: 3, runs: 10, seed: 1, input: null, output: null};
  for (let i = 0; i < argv.length; ++i) {
    const k = argv[i];
    if (k === '--json') continue;  // accepted for symmetry with the teesplit CLI
    if (k === '--input' || k === '--output') {
      if (i + 1 >= argv.length) usage(`${k} needs a value`);
      a[k.slice(2)] = argv[++i];
      continue;
    }
    if (k.startsWith('--')) {
      const name = k.slice(2);
      if (!(name in a) || ['model', 'input', 'output'].includes(name)) usage(`unknown option ${k}`);
      if (i + 1 >= argv.length) usage(`${k} needs a value`);
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0 || v > 1e6) usage(`bad value for ${k}: ${argv[i]}`);
      a[name] = v;
    } else if (a.model === null) {
      a.model = k;
    } else {
      usage(`unexpected argument ${k}`);
    }
  }
  if (a.model === null) usage('no model given');
  if (a.batch < 1 || a.threads < 1 || a.runs < 1) usage('batch, threads and runs must be >= 1');
  return a;
}

// Reads a C-order little-endian float32 .npy file: {shape, data}. Throws on
// anything else.
function read_npy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') {
    throw new Error(`${file}: not a .npy file`);
  }
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + hlen;
  if (start > buf.length) throw new Error(`${file}: truncated header`);
  const h = buf.toString('latin1', major === 1 ? 10 : 12, start);
  if (!h.includes("'descr': '<f4'") || !h.includes("'fortran_order': False")) {
    throw new Error(`${file}: only C-order little-endian float32 is supported`);
  }
  const m = /'shape': \(([^)]*)\)/.exec(h);
  if (!m) throw new Error(`${file}: no shape in header`);
  const shape = m[1].split(',').map((x) => x.trim()).filter((x) => x).map(Number);
  const count = shape.reduce((x, y) => x * y, 1);
  if (!shape.every(Number.isInteger) || buf.length - start < count * 4) {
    throw new Error(`${file}: data shorter than its shape`);
  }
  const data = new Float32Array(count);
  for (let i = 0; i < count; ++i) data[i] = buf.readFloatLE(start + 4 * i);
  return {shape, data};
}

function write_npy(file, shape, data) {
  let h = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.map((d) => d + ', ').join('')}), }`;
  while ((10 + h.length + 1) % 64 !== 0) h += ' ';
  h += '\n';
  const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, h.length & 0xff, h.length >> 8]);
  const body = Buffer.alloc(data.length * 4);
  for (let i = 0; i < data.length; ++i) body.writeFloatLE(data[i], 4 * i);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(h, 'latin1'), body]));
}

// Same 32-bit LCG as the C++ runners: uniform values in [-1, 1).
function fill_random(buf, seed) {
  let s = (seed >>> 0) || 1;
  for (let i = 0; i < buf.length; ++i) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    buf[i] = (s >>> 8) / 8388608.0 - 1.0;
  }
}

function model_name(p) {
  const base = path.basename(p);
  const dot = base.indexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

async function main() {
  const args = parse_args(process.argv.slice(2));
  const ort = require('onnxruntime-node');
  const session = await ort.InferenceSession.create(args.model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: args.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  if (session.inputNames.length !== 1) {
    throw new Error(`expected one input, model has ${session.inputNames.length}`);
  }
  const in_name = session.inputNames[0];
  let dims = [args.batch, 3, 224, 224];
  const meta = session.inputMetadata && session.inputMetadata[0];
  if (meta && Array.isArray(meta.shape) && meta.shape.length === 4) {
    dims = meta.shape.map((d, i) => (i === 0 ? args.batch : (typeof d === 'number' && d > 0 ? d : dims[i])));
  }
  let data;
  if (args.input) {
    const x = read_npy(args.input);
    if (x.shape.length !== 4 || x.shape[0] !== args.batch) {
      throw new Error(`${args.input}: expected shape [batch,C,H,W] with batch ${args.batch}`);
    }
    dims = x.shape;
    data = x.data;
  } else {
    data = new Float32Array(dims.reduce((x, y) => x * y, 1));
    fill_random(data, args.seed);
  }
  const feeds = {[in_name]: new ort.Tensor('float32', data, dims)};

  for (let i = 0; i < args.warmup; ++i) await session.run(feeds);
  const times = [];
  let out = null;
  for (let i = 0; i < args.runs; ++i) {
    const t0 = process.hrtime.bigint();
    out = await session.run(feeds);
    const t1 = process.hrtime.bigint();
    times.push(Number(t1 - t0) / 1e6);
  }
  if (args.output) {
    const t = out[session.outputNames[0]];
    write_npy(args.output, t.dims, t.data);
  }
  await session.release();
  process.stdout.write(JSON.stringify({
    peer: 'onnxruntime',
    model: model_name(args.model),
    batch: args.batch,
    threads: args.threads,
    times_ms: times.map((t) => Math.round(t * 1000) / 1000),
  }) + '\n');
}

main().catch((e) => {
  process.stderr.write(`ort_runner: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
