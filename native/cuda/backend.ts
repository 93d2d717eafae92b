// The native CUDA backend: compiles IR graphs into addon programs and runs them. All device
// work of one backend goes through one queue, since every graph shares the addon's stream.
import type { Tensor } from '../graph/ir.js';
import { GraphError, numel, shapeStr } from '../graph/ir.js';
import type { Backend, BackendInfo, CompileOptions, CompiledGraph, HostTensor } from '../runtime/backend.js';
import type { CudaAddon, CudaProbe } from './addon.js';
import type { ExecutionPlan, Place } from './plan.js';
import { planGraph } from './plan.js';
import type { DeviceLoc } from './program.js';
import type { CudaPrecision } from './precision.js';
import { anyNarrower, distinctFloat32Bytes, distinctStoredBytes, float32CopiesFit, WeightCache } from './weights.js';

export type { CudaPrecision } from './precision.js';

/** What the backend asks of the addon: memory, uploads, programs and their runs. */
export type CudaDevice = Pick<
  CudaAddon,
  'memInfo' | 'alloc' | 'free' | 'upload' | 'createProgram' | 'destroyProgram' | 'run'
>;

export interface CudaBackendOptions {
  precision?: CudaPrecision;
  /** Capture each graph's launches once and replay them (fewer launch gaps). Default on. */
  graphCapture?: boolean;
  /** Synchronise after every launch, so a GPU fault names the op that caused it (slow). */
  syncEachStep?: boolean;
  /** Fill each graph's activation memory with NaN first, so tests catch values never written. */
  poisonArena?: boolean;
  /**
   * Hold the weights as float32 copies (true) or at their stored width, widened at each use
   * (false). Unset, each graph gets float32 copies where they fit in FLOAT32_WEIGHTS_SHARE of the card.
   */
  float32Weights?: boolean;
}

export interface CudaCompileOptions extends CompileOptions {
  /** Overrides the backend's precision (and `fast`) for this graph. */
  precision?: CudaPrecision;
  /** Elementwise programs by the interpreter even where they compile (the GPU check compares both). */
  interpretElementwise?: boolean;
}

/** Bytes the GPU must have free to compile a plan (reported before anything is allocated). */
export interface CudaMemoryNeed {
  arena: number;
  constants: number;
  newWeights: number;
  total: number;
}

export class CudaError extends Error {
  constructor(
    message: string,
    readonly kind: 'out-of-memory' | 'gpu-fault' | 'bad-input' | 'released',
  ) {
    super(message);
    this.name = 'CudaError';
  }
}

const GiB = 2 ** 30;
/** GPU memory for messages: GiB, or MiB below one GiB. */
export const formatBytes = (b: number): string =>
  b >= GiB ? `${(b / GiB).toFixed(2)} GiB` : `${(b / 2 ** 20).toFixed(1)} MiB`;
/**
 * Room left for what the first run allocates beyond the plan (the captured launch graph,
 * cuBLAS's own buffers): 0.42 GiB measured at the peaks of the 512² SDXL jobs on an H200.
 */
export const HEADROOM = 512 * 2 ** 20;

const hostArray = (dtype: Tensor['dtype'], buf: ArrayBuffer): HostTensor['data'] =>
  dtype === 'float32' ? new Float32Array(buf) : dtype === 'int64' ? new BigInt64Array(buf) : new Uint8Array(buf);

const describe = (t: Tensor): string => `${t.spec.op} #${t.id}${t.label ? ` at ${t.label}` : ''}`;

export class CudaBackend implements Backend {
  readonly info: BackendInfo;
  private readonly weights: WeightCache;
  private queue: Promise<unknown> = Promise.resolve();
  private weightGeneration = 0;
  private broken: string | null = null;
  private peakUsed = 0;
  private lastPlans: { outputs: readonly Tensor[]; plans: Map<boolean, ExecutionPlan> } | null = null;

  constructor(
    private readonly addon: CudaDevice,
    readonly device: CudaProbe,
    private readonly opts: CudaBackendOptions = {},
    reasons: string[] = [],
  ) {
    this.weights = new WeightCache(addon);
    this.info = {
      id: 'cuda',
      label: `Native CUDA (${device.name ?? 'NVIDIA GPU'})`,
      reasons,
      fastPrecision: 'TF32 tensor cores for the UNet’s matrix products (the VAE, warps and losses stay float32)',
    };
  }

  get precision(): CudaPrecision {
    return this.opts.precision ?? 'float32';
  }

  /** Another backend on the same GPU and addon (a weight cache of its own), e.g. in another precision. */
  withOptions(opts: CudaBackendOptions): CudaBackend {
    return new CudaBackend(this.addon, this.device, { ...this.opts, ...opts }, this.info.reasons);
  }

  /**
   * Most GPU memory seen in use (the whole device's, as a card of that size would need) after
   * any compile or a graph's first run since the last reset: our allocations are made at compile
   * time, and the first run adds the captured launch graph and cuBLAS's buffers; later runs
   * allocate nothing, so this is the peak of a workload, context included.
   */
  get peakUsedBytes(): number {
    return this.peakUsed;
  }

  resetPeakUsed(): void {
    this.peakUsed = 0;
    this.notePeak();
  }

  private notePeak(): void {
    const { free, total } = this.addon.memInfo();
    this.peakUsed = Math.max(this.peakUsed, total - free);
  }

  /** Runs device work one call at a time, in order. */
  private serial<T>(work: () => Promise<T> | T): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** What compiling `outputs` would allocate, and whether it fits now (no allocation made). */
  memoryNeed(plan: ExecutionPlan): CudaMemoryNeed {
    const newWeights = this.weights.missingBytes(plan.weights, plan.weightsInFloat32);
    const arena = plan.arenaBytes;
    const constants = plan.constantBytes;
    return { arena, constants, newWeights, total: arena + constants + newWeights };
  }

  fits(outputs: readonly Tensor[], share: number): boolean {
    const plan = this.planOf(outputs);
    const need = plan.arenaBytes + plan.constantBytes + distinctStoredBytes(plan.weights) + HEADROOM;
    return need <= share * this.addon.memInfo().total;
  }

  /**
   * The plan of `outputs` (weights at their stored width, or as float32 copies), kept for the
   * next call: a choice that asks `fits` and then compiles what fitted plans it once (a second of
   * planning on full-size SDXL). A plan is never changed after it is made, so reusing it gives
   * the same program.
   */
  private planOf(outputs: readonly Tensor[], weightsInFloat32 = false): ExecutionPlan {
    const last = this.lastPlans;
    const same = last && last.outputs.length === outputs.length && last.outputs.every((t, i) => t === outputs[i]);
    const plans = same ? last.plans : new Map<boolean, ExecutionPlan>();
    if (!same) this.lastPlans = { outputs: [...outputs], plans };
    let plan = plans.get(weightsInFloat32);
    if (!plan) plans.set(weightsInFloat32, (plan = planGraph(outputs, { weightsInFloat32 })));
    return plan;
  }

  /** The plan a compile of `outputs` uses: with float32 weights where the option or the card's room says so. */
  private compilePlanOf(outputs: readonly Tensor[]): ExecutionPlan {
    const stored = this.planOf(outputs);
    const chosen = this.opts.float32Weights;
    if (chosen === false || !anyNarrower(stored.weights)) return stored;
    // Copies an earlier graph made cost nothing more; stored copies beside them would.
    if (this.weights.missingBytes(stored.weights, true) === 0) return this.planOf(outputs, true);
    // The float32 plan's arena is the stored one's less the widened copies: this bound decides before planning it.
    const need = stored.arenaBytes + stored.constantBytes + distinctFloat32Bytes(stored.weights) + HEADROOM;
    if (chosen === true || float32CopiesFit(need, this.addon.memInfo().total)) return this.planOf(outputs, true);
    return stored;
  }

  compile(outputs: readonly Tensor[], opts: CudaCompileOptions = {}): Promise<CudaCompiledGraph> {
    return this.serial(() => this.compileNow(outputs, opts));
  }

  private async compileNow(outputs: readonly Tensor[], opts: CudaCompileOptions): Promise<CudaCompiledGraph> {
    if (this.broken) throw new CudaError(this.broken, 'gpu-fault');
    const name = opts.name ?? 'graph';
    if (outputs.length === 0) throw new GraphError(`cuda: graph '${name}' has no outputs`);
    const plan = this.compilePlanOf(outputs);
    const need = this.memoryNeed(plan);
    const { free, total } = this.addon.memInfo();
    if (need.total + HEADROOM > free) {
      throw new CudaError(
        `graph '${name}' needs ${formatBytes(need.total + HEADROOM)} of GPU memory ` +
          `(activations ${formatBytes(need.arena)}, weights not yet loaded ${formatBytes(need.newWeights)}, ` +
          `constants ${formatBytes(need.constants)}, working room ${formatBytes(HEADROOM)}); ` +
          `${this.device.name ?? 'the GPU'} has ${formatBytes(free)} free of ${formatBytes(total)}. ` +
          `Use smaller images or batches, close other GPU programs, or choose the ONNX Runtime backend.`,
        'out-of-memory',
      );
    }
    const held: number[] = [];
    let program = 0;
    try {
      const weightAllocs = await this.weights.ensure(plan.weights, plan.weightsInFloat32);
      const arena = this.addon.alloc(plan.arenaBytes, this.opts.poisonArena ?? false);
      held.push(arena);
      const constAlloc = this.addon.alloc(plan.constantBytes);
      held.push(constAlloc);
      for (const c of plan.constants) this.addon.upload(constAlloc, c.offset, c.data);
      const resolve = (p: Place): DeviceLoc => {
        const h = p.home;
        if (h.kind === 'arena') return { alloc: arena, offset: h.slot.offset + p.offset };
        if (h.kind === 'constant') return { alloc: constAlloc, offset: h.offset + p.offset };
        return { alloc: weightAllocs.get(h.tensor)!, offset: p.offset };
      };
      const precision = opts.precision ?? (opts.fast ? 'tf32' : this.precision);
      program = this.addon.createProgram(
        plan.encode(resolve, precision),
        this.opts.graphCapture ?? true,
        opts.interpretElementwise ?? false,
      );
      this.notePeak();
      return new CudaCompiledGraph(this, name, plan, resolve, program, held, this.weightGeneration);
    } catch (e) {
      if (program) this.addon.destroyProgram(program);
      for (const id of held) this.addon.free(id);
      throw e;
    }
  }

  /** Frees the model weights held on the GPU; graphs compiled before must be compiled again. */
  releaseWeights(): Promise<void> {
    return this.serial(() => {
      this.weights.clear();
      this.weightGeneration++;
    });
  }

  /** @internal */
  execute(
    graph: CudaCompiledGraph,
    feeds: Record<string, HostTensor>,
    profile = false,
  ): Promise<HostTensor[] & { stepMs?: Float64Array }> {
    return this.serial(async () => {
      if (this.broken) throw new CudaError(this.broken, 'gpu-fault');
      if (graph.generation !== this.weightGeneration) {
        throw new CudaError(
          `graph '${graph.name}' was compiled against weights since released; compile it again`,
          'released',
        );
      }
      const feedList = graph.plan.inputs.map((inp): [number, number, ArrayBufferView] => {
        const loc = graph.resolve(inp.place);
        return [loc.alloc, loc.offset, checkFeed(graph.name, inp.name, inp.tensor, feeds[inp.name])];
      });
      const outList = graph.plan.outputs.map((o): [number, number, number] => {
        const loc = graph.resolve(o.place);
        return [loc.alloc, loc.offset, o.bytes];
      });
      let bufs: ArrayBuffer[] & { stepMs?: Float64Array };
      try {
        bufs = await this.addon.run(graph.program, feedList, outList, this.opts.syncEachStep ?? false, profile);
      } catch (e) {
        const err = e as Error & { step?: number; sticky?: boolean };
        const at = err.step !== undefined && err.step >= 0 ? graph.plan.steps[err.step] : undefined;
        const where = at ? ` at ${describe(at)}` : '';
        if (err.sticky) {
          this.broken =
            `the GPU faulted while running graph '${graph.name}'${where}: ${err.message}. ` +
            `The CUDA context is lost: restart the app (saved work is kept), or run with the ONNX Runtime backend.`;
          throw new CudaError(this.broken, 'gpu-fault');
        }
        throw new CudaError(`graph '${graph.name}'${where}: ${err.message}`, 'gpu-fault');
      }
      const outs: HostTensor[] & { stepMs?: Float64Array } = graph.plan.outputs.map((o, i) => ({
        dtype: o.tensor.dtype,
        shape: [...o.tensor.shape],
        data: hostArray(o.tensor.dtype, bufs[i]!),
      }));
      outs.stepMs = bufs.stepMs;
      if (!graph.hasRun) {
        graph.hasRun = true;
        this.notePeak();
      }
      return outs;
    });
  }

  /** @internal */
  releaseGraph(graph: CudaCompiledGraph): Promise<void> {
    return this.serial(() => {
      this.addon.destroyProgram(graph.program);
      for (const id of graph.held) this.addon.free(id);
    });
  }
}

function checkFeed(graph: string, name: string, t: Tensor, v: HostTensor | undefined): ArrayBufferView {
  const where = `graph '${graph}', input '${name}'`;
  if (!v) throw new CudaError(`${where}: not fed (expects ${shapeStr(t.shape)}:${t.dtype})`, 'bad-input');
  if (v.dtype !== t.dtype) throw new CudaError(`${where}: fed ${v.dtype}, expects ${t.dtype}`, 'bad-input');
  const same = v.shape.length === t.shape.length && v.shape.every((d, i) => d === t.shape[i]);
  if (!same) throw new CudaError(`${where}: fed shape ${shapeStr(v.shape)}, expects ${shapeStr(t.shape)}`, 'bad-input');
  const ok =
    (t.dtype === 'float32' && v.data instanceof Float32Array) ||
    (t.dtype === 'int64' && v.data instanceof BigInt64Array) ||
    (t.dtype === 'bool' && v.data instanceof Uint8Array);
  if (!ok || v.data.length !== numel(t.shape)) {
    throw new CudaError(`${where}: data is not a ${t.dtype} array of ${numel(t.shape)} values`, 'bad-input');
  }
  return v.data;
}

/** GPU time of one instruction of a profiled run. */
export interface CudaStepTime {
  kind: string;
  node: Tensor;
  ms: number;
}

export class CudaCompiledGraph implements CompiledGraph {
  readonly inputNames: readonly string[];
  private released = false;
  /** @internal Set by the backend after the first run (the one that allocates beyond the plan). */
  hasRun = false;

  constructor(
    private readonly backend: CudaBackend,
    readonly name: string,
    readonly plan: ExecutionPlan,
    readonly resolve: (p: Place) => DeviceLoc,
    readonly program: number,
    readonly held: readonly number[],
    readonly generation: number,
  ) {
    this.inputNames = plan.inputs.map((i) => i.name);
  }

  run(feeds: Record<string, HostTensor>): Promise<HostTensor[]> {
    if (this.released) return Promise.reject(new CudaError(`graph '${this.name}' was released`, 'released'));
    return this.backend.execute(this, feeds);
  }

  /** Runs once with every launch timed on the GPU (no launch-graph replay): where the time goes. */
  async profile(feeds: Record<string, HostTensor>): Promise<{ outputs: HostTensor[]; steps: CudaStepTime[] }> {
    if (this.released) throw new CudaError(`graph '${this.name}' was released`, 'released');
    const outputs = await this.backend.execute(this, feeds, true);
    const ms = outputs.stepMs ?? new Float64Array(0);
    return { outputs, steps: this.plan.steps.map((node, i) => ({ kind: this.plan.kinds[i]!, node, ms: ms[i] ?? 0 })) };
  }

  release(): Promise<void> {
    if (this.released) return Promise.resolve();
    this.released = true;
    return this.backend.releaseGraph(this);
  }
}
