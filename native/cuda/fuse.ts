// Elementwise fusion: chains of elementwise ops (and the broadcasts and transposes between
// them) become one kernel that reads each materialised input once and writes one output.
// A node is folded into its consumer when that consumer is its only reader; fills and
// scalar constants are folded into every elementwise reader as immediates.
import type { OpName, Tensor } from '../graph/ir.js';
import { numel } from '../graph/ir.js';
import { fusedOps, lowered, opDef, type Fused } from '../graph/opset.js';
import { stridesOf } from './layout.js';
import type { EwInstrRec } from './program.js';
import { Access, ElemType, EwOp, EW_MAX_CODE, EW_MAX_IMM, EW_MAX_IN, EW_MAX_REG, MAX_RANK } from './program.js';

/** How `op` runs inside a fused kernel, or null for an op with a lowering of its own. */
const fusedOf = (op: OpName): Fused | null => {
  const cuda = opDef(op).cuda;
  return cuda === lowered ? null : cuda;
};

export const isElementwise = (t: Tensor): boolean => fusedOps.has(t.spec.op);

/** A fill of zeros. */
export const isZeroFill = (t: Tensor): boolean => t.spec.op === 'fill' && t.spec.value === 0;

/** Fills and float scalar constants: folded into readers as immediates, never worth a load. */
export const isImmediate = (t: Tensor): boolean =>
  t.spec.op === 'fill' || (t.spec.op === 'constant' && t.dtype === 'float32' && numel(t.shape) === 1);

const immediateValue = (t: Tensor): number => {
  if (t.spec.op === 'fill') return t.spec.value;
  if (t.spec.op === 'constant') return Number(t.spec.data[0]);
  throw new Error(`not an immediate: ${t.spec.op}`);
};

export const elemType = (t: Tensor): ElemType =>
  t.dtype === 'float32' ? ElemType.F32 : t.dtype === 'int64' ? ElemType.I64 : ElemType.Bool;

/** One materialised tensor read by a fused kernel, from `offset` elements on, with its strides over the kernel's output dims. */
export interface FusedInput {
  tensor: Tensor;
  type: ElemType;
  access: Access;
  strides: number[];
  offset: number;
}

export interface FusedKernel {
  root: Tensor;
  /** Nodes computed inside the kernel (root included). */
  members: Tensor[];
  /** The output dims after merging dims that every access walks alike. */
  dims: number[];
  inputs: FusedInput[];
  code: EwInstrRec[];
  imm: number[];
}

/** Maps each dim of a member's output to a dim of the kernel's output, or -1 (broadcast: coordinate 0). */
type DimMap = number[];

class TooLarge extends Error {}

/** How `node` reads its input `x`: the dim map of `x` given the dim map of `node`. */
function inputMap(node: Tensor, x: Tensor, map: DimMap): DimMap {
  if (node.spec.op === 'transpose') {
    const out = new Array<number>(x.shape.length).fill(-1);
    node.spec.perm.forEach((p, j) => (out[p] = map[j]!));
    return out;
  }
  const lead = node.shape.length - x.shape.length;
  return x.shape.map((d, j) => (d === 1 ? -1 : map[j + lead]!));
}

const sameMap = (a: DimMap, b: DimMap): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * Generates the register program of one fused kernel. `members` maps each folded node to
 * its dim map and its number of reads inside the kernel (a node read twice is computed
 * once). Throws TooLarge when the program exceeds the kernel's limits.
 */
function generate(
  root: Tensor,
  members: ReadonlyMap<number, { map: DimMap; uses: number }>,
  slicesRead: ReadonlySet<number>,
): FusedKernel {
  const inputs: { tensor: Tensor; strides: number[]; offset: number }[] = [];
  const code: EwInstrRec[] = [];
  const imm: number[] = [];
  const freeF: number[] = [];
  const freeI: number[] = [];
  let usedF = 0;
  let usedI = 0;
  type Reg = { reg: number; int: boolean; shared?: { left: number } };
  const alloc = (int: boolean): Reg => {
    const pool = int ? freeI : freeF;
    if (pool.length) return { reg: pool.pop()!, int };
    const reg = int ? usedI++ : usedF++;
    if (reg >= EW_MAX_REG) throw new TooLarge();
    return { reg, int };
  };
  // A shared result stays in its register until its last reader has issued its op.
  const release = (...regs: Reg[]) => {
    for (const r of regs) {
      if (r.shared && --r.shared.left > 0) continue;
      (r.int ? freeI : freeF).push(r.reg);
    }
  };
  const emit = (op: EwOp, dst: Reg, a = 0, b = 0, c = 0) => {
    if (code.length >= EW_MAX_CODE) throw new TooLarge();
    code.push({ op, dst: dst.reg, a, b, c });
  };
  const rootRank = root.shape.length;

  const load = (x: Tensor, map: DimMap): Reg => {
    if (isImmediate(x)) {
      const v = Math.fround(immediateValue(x));
      let k = imm.findIndex((u) => Object.is(u, v));
      if (k < 0) {
        if (imm.length >= EW_MAX_IMM) throw new TooLarge();
        k = imm.push(v) - 1;
      }
      const r = alloc(false);
      emit(EwOp.IMM_F, r, k);
      return r;
    }
    // A slice read in place (planGraph's slicesRead): its source, walked with the source's strides from the slice's start.
    const spec = x.spec;
    const source = spec.op === 'slice' && slicesRead.has(x.id) ? x.inputs[0]! : x;
    const own = stridesOf(source.shape);
    const offset = spec.op === 'slice' && source !== x ? spec.start * own[spec.axis]! : 0;
    const strides = new Array<number>(rootRank).fill(0);
    map.forEach((d, j) => {
      if (d >= 0) strides[d]! += own[j]!;
    });
    let slot = inputs.findIndex(
      (s) => s.tensor === source && s.offset === offset && s.strides.every((v, i) => v === strides[i]),
    );
    if (slot < 0) {
      if (inputs.length >= EW_MAX_IN) throw new TooLarge();
      slot = inputs.push({ tensor: source, strides, offset }) - 1;
    }
    const r = alloc(x.dtype !== 'float32');
    emit(x.dtype === 'float32' ? EwOp.LD_F : x.dtype === 'int64' ? EwOp.LD_I : EwOp.LD_B, r, slot);
    return r;
  };

  const computed = new Map<number, Reg>();
  const gen = (node: Tensor, map: DimMap): Reg => {
    const member = node === root ? { map, uses: 1 } : members.get(node.id);
    if (!member) return load(node, map);
    const done = computed.get(node.id);
    if (done) return done;
    const r = compute(node, member.map, member.uses);
    if (member.uses > 1) {
      r.shared = { left: member.uses };
      computed.set(node.id, r);
    }
    return r;
  };

  const compute = (node: Tensor, map: DimMap, uses: number): Reg => {
    const arg = (i: number) => gen(node.inputs[i]!, inputMap(node, node.inputs[i]!, map));
    // Ops that only re-index or re-type pass their input's register on, unless either side
    // is read more than once: then a copy keeps the two read counts apart.
    const passOn = (a: Reg): Reg => {
      if (!a.shared && uses === 1) return a;
      release(a);
      const d = alloc(a.int);
      emit(a.int ? EwOp.MOV_I : EwOp.MOV_F, d, a.reg);
      return d;
    };
    const fused = fusedOf(node.spec.op);
    if (!fused) throw new Error(`fuse: ${node.spec.op} is not elementwise`);
    switch (fused.kind) {
      case 'immediate':
        return load(node, map);
      case 'unary': {
        const a = arg(0);
        release(a);
        const d = alloc(false);
        emit(EwOp[fused.code], d, a.reg);
        return d;
      }
      case 'binary': {
        const a = arg(0);
        const b = arg(1);
        release(a, b);
        const d = alloc(false);
        emit(EwOp[fused.code], d, a.reg, b.reg);
        return d;
      }
      case 'compare': {
        const a = arg(0);
        const b = arg(1);
        release(a, b);
        const d = alloc(true);
        const code = a.int ? fused.int : fused.float;
        if (code === null) throw new Error(`fuse: ${node.spec.op} has no instruction for integer operands`);
        emit(EwOp[code], d, a.reg, b.reg);
        return d;
      }
      case 'select': {
        const c = arg(0);
        const x = arg(1);
        const y = arg(2);
        release(c, x, y);
        const d = alloc(x.int);
        emit(EwOp[x.int ? fused.int : fused.float], d, c.reg, x.reg, y.reg);
        return d;
      }
      case 'convert': {
        const from = node.inputs[0]!.dtype;
        const to = node.dtype;
        const a = arg(0);
        if (from === to || (from === 'bool' && to === 'int64')) return passOn(a);
        release(a);
        const d = alloc(to !== 'float32');
        const conv = to === 'float32' ? EwOp.I2F : to === 'int64' ? EwOp.F2I : from === 'float32' ? EwOp.F2B : EwOp.I2B;
        emit(conv, d, a.reg);
        return d;
      }
      case 'reindex':
        return passOn(arg(0));
    }
  };

  const identity = root.shape.map((_, j) => j);
  const result = gen(root, identity);
  const store = root.dtype === 'float32' ? EwOp.ST_F : root.dtype === 'int64' ? EwOp.ST_I : EwOp.ST_B;
  emit(store, result, result.reg);

  const { dims, strides } = mergeDims(
    [...root.shape],
    inputs.map((s) => s.strides),
  );
  if (dims.length > MAX_RANK) throw new Error(`fuse: ${dims.length}-d elementwise output exceeds rank ${MAX_RANK}`);
  const dense = stridesOf(dims);
  return {
    root,
    members: [],
    dims,
    inputs: inputs.map((s, i) => {
      const st = strides[i]!;
      const access = st.every((v) => v === 0)
        ? Access.Scalar
        : st.every((v, d) => v === dense[d])
          ? Access.Contiguous
          : Access.Strided;
      return { tensor: s.tensor, type: elemType(s.tensor), access, strides: st, offset: s.offset };
    }),
    code,
    imm,
  };
}

/**
 * Drops size-1 dims and merges neighbours that every access (and the dense output) walks
 * as one: fewer dims means less index arithmetic per element.
 */
export function mergeDims(shape: number[], strideSets: number[][]): { dims: number[]; strides: number[][] } {
  const keep = shape.map((d, i) => (d !== 1 ? i : -1)).filter((i) => i >= 0);
  let dims = keep.map((i) => shape[i]!);
  let sets = strideSets.map((s) => keep.map((i) => s[i]!));
  for (let d = dims.length - 2; d >= 0; d--) {
    const inner = dims[d + 1]!;
    if (sets.every((s) => s[d] === s[d + 1]! * inner)) {
      dims = [...dims.slice(0, d), dims[d]! * inner, ...dims.slice(d + 2)];
      sets = sets.map((s) => [...s.slice(0, d), s[d + 1]!, ...s.slice(d + 2)]);
    }
  }
  return { dims, strides: sets };
}

/**
 * Chooses which elementwise nodes run inside which kernel. A node is folded into a kernel
 * when every reader of it is in that kernel and all read it alike (same dim map), so it is
 * computed once per output element. `readersOf` lists each node's readers (once per use);
 * `mustStore` are graph outputs; `slicesRead` are slices that kernels read from their source
 * in place. Returns one kernel per materialised elementwise node.
 */
export function planFusion(
  order: readonly Tensor[],
  readersOf: ReadonlyMap<number, readonly Tensor[]>,
  mustStore: ReadonlySet<number>,
  needsMaterial: (t: Tensor) => boolean,
  slicesRead: ReadonlySet<number> = new Set(),
): Map<number, FusedKernel> {
  const position = new Map<number, number>();
  order.forEach((t, i) => position.set(t.id, i));
  const kernels = new Map<number, FusedKernel>();
  const folded = new Set<number>();
  for (let i = order.length - 1; i >= 0; i--) {
    const root = order[i]!;
    if (!isElementwise(root) || folded.has(root.id) || !needsMaterial(root)) continue;
    // Candidates are decided latest-first, so all of a candidate's readers inside the
    // kernel are known when it is judged. On hitting a kernel limit, fold fewer nodes.
    let cap = 48;
    for (;;) {
      const maps = new Map<number, DimMap>([[root.id, root.shape.map((_, j) => j)]]);
      const members = new Map<number, { map: DimMap; uses: number }>();
      const list: Tensor[] = [root];
      const candidates = new Map<number, Tensor>();
      const offer = (m: Tensor) => {
        for (const x of m.inputs) if (!maps.has(x.id)) candidates.set(x.id, x);
      };
      offer(root);
      while (candidates.size && members.size < cap) {
        let x: Tensor | undefined;
        for (const c of candidates.values()) if (!x || position.get(c.id)! > position.get(x.id)!) x = c;
        candidates.delete(x!.id);
        const t = x!;
        if (!isElementwise(t) || isImmediate(t) || mustStore.has(t.id) || folded.has(t.id)) continue;
        const readers = readersOf.get(t.id) ?? [];
        if (!readers.every((r) => maps.has(r.id))) continue;
        const viaEach = readers.map((r) => inputMap(r, t, maps.get(r.id)!));
        if (!viaEach.every((m) => sameMap(m, viaEach[0]!))) continue;
        maps.set(t.id, viaEach[0]!);
        members.set(t.id, { map: viaEach[0]!, uses: readers.length });
        list.push(t);
        offer(t);
      }
      try {
        const k = generate(root, members, slicesRead);
        kernels.set(root.id, { ...k, members: list });
        for (const id of members.keys()) folded.add(id);
        break;
      } catch (e) {
        if (!(e instanceof TooLarge) || members.size === 0) throw e;
        cap = members.size - 1;
      }
    }
  }
  return kernels;
}
