// AdamW's element loop as a WebAssembly SIMD function, four floats at a time. WebAssembly's
// f32 arithmetic rounds every operation to float32 (IEEE 754), which is what adamw.ts did with
// Math.fround after each float64 operation: for +, −, ×, ÷ and √ the two give the same bits
// (float64 carries more than twice float32's precision). The JavaScript loop took 20–40 ms
// per step on the lent GPU machine's host for SDXL's 500 × 2048 token values, serial with
// every training iteration; this takes a few.
//
// The module is assembled here rather than shipped as a binary: it is one function, and its
// bytes stay readable beside the operations they encode.

/** Float32 arrays of one optimiser, in the kernel's memory: the step reads and writes them in place. */
export interface AdamWArrays {
  params: Float32Array;
  grad: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

export interface AdamWScalars {
  /** 1 − lr·weight decay (1 without weight decay: p·1 is p, bit for bit). */
  decay: number;
  lerpWeight: number;
  beta2: number;
  sqWeight: number;
  stepSize: number;
  correction2Sqrt: number;
  eps: number;
}

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
};
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const name = (s: string) => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

// Instructions.
const get = (i: number) => [0x20, i];
const set = (i: number) => [0x21, i];
const tee = (i: number) => [0x22, i];
const simd = (op: number) => [0xfd, ...uleb(op)];
const load = [...simd(0x00), 4, 0]; // v128.load, 16-byte aligned, offset 0
const store = [...simd(0x0b), 4, 0];
const splat = simd(0x13);
const sqrt = simd(0xe3);
const add = simd(0xe4);
const sub = simd(0xe5);
const mul = simd(0xe6);
const div = simd(0xe7);

// Parameters: four byte offsets (params, grad, m, v), the byte count, then the scalars.
const [P, G, M, V, BYTES] = [0, 1, 2, 3, 4];
const SCALARS = 7; // decay, lerpWeight, beta2, sqWeight, stepSize, correction2Sqrt, eps: 5 … 11
// Locals: the byte index, the scalars splatted to four lanes, and this group's g, m, v.
const I = 12;
const [DECAY, LERP, BETA2, SQ, STEP, CORR, EPS] = [13, 14, 15, 16, 17, 18, 19];
const [GV, MV, VV] = [20, 21, 22];
const at = (base: number) => [...get(base), ...get(I), 0x6a]; // base + i

const body = [
  ...vec([
    [1, I32],
    [10, V128],
  ]),
  ...Array.from({ length: SCALARS }, (_, k) => [...get(5 + k), ...splat, ...set(DECAY + k)]).flat(),
  ...[0x02, 0x40, 0x03, 0x40], // block, loop
  ...[...get(I), ...get(BYTES), 0x4f, 0x0d, 1], // i >= bytes: leave
  ...[...at(G), ...load, ...set(GV)],
  // m = m + lerpWeight·(g − m)
  ...[...at(M), ...at(M), ...load, ...tee(MV), ...get(LERP), ...get(GV), ...get(MV), ...sub, ...mul, ...add],
  ...[...tee(MV), ...store],
  // v = v·beta2 + (sqWeight·g)·g
  ...[...at(V), ...at(V), ...load, ...get(BETA2), ...mul, ...get(SQ), ...get(GV), ...mul, ...get(GV), ...mul, ...add],
  ...[...tee(VV), ...store],
  // params = params·decay + (stepSize·m) / (√v / correction2Sqrt + eps)
  ...[...at(P), ...at(P), ...load, ...get(DECAY), ...mul, ...get(STEP), ...get(MV), ...mul],
  ...[...get(VV), ...sqrt, ...get(CORR), ...div, ...get(EPS), ...add, ...div, ...add, ...store],
  ...[...get(I), 0x41, 16, 0x6a, ...set(I)], // i += 16
  ...[0x0c, 0, 0x0b, 0x0b], // continue; end loop; end block
  0x0b,
];

const moduleBytes = Uint8Array.from([
  ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
  ...section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32], [I32], ...Array(SCALARS).fill([F32])]), 0]])),
  ...section(2, vec([[...name('env'), ...name('memory'), 0x02, 0x00, 1]])),
  ...section(3, vec([[0]])),
  ...section(7, vec([[...name('adamw'), 0x00, 0]])),
  ...section(10, vec([[...uleb(body.length), ...body]])),
]);

let compiled: WebAssembly.Module | undefined;

/** The four arrays of `size` floats, each padded to whole groups of four, and the step over them. */
export function adamwKernel(size: number): { arrays: AdamWArrays; step: (s: AdamWScalars) => void } {
  compiled ??= new WebAssembly.Module(moduleBytes);
  const padded = Math.ceil(size / 4) * 4;
  const bytes = padded * 4;
  const memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil((4 * bytes) / 65536)) });
  const adamw = new WebAssembly.Instance(compiled, { env: { memory } }).exports.adamw as (...a: number[]) => void;
  const view = (k: number) => new Float32Array(memory.buffer, k * bytes, size);
  return {
    arrays: { params: view(0), grad: view(1), m: view(2), v: view(3) },
    // The padding lanes hold zeros (gradient and moments alike) and stay finite.
    step: (s) =>
      adamw(
        0,
        bytes,
        2 * bytes,
        3 * bytes,
        bytes,
        s.decay,
        s.lerpWeight,
        s.beta2,
        s.sqWeight,
        s.stepSize,
        s.correction2Sqrt,
        s.eps,
      ),
  };
}
