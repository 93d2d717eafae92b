// Named weights of one model component as graph leaves, created once per graph.
import type { Graph, Tensor, WeightRef } from '../graph/ir.js';
import { reshape } from '../graph/ops.js';

/** The part of a weight source the graph builders need (diffusers names, diffusers shapes). */
export interface WeightLookup {
  has(name: string): boolean;
  shape(name: string): number[];
  ref(name: string): WeightRef;
}

export class MissingWeightError extends Error {
  constructor(name: string, component: string) {
    super(`${component}: the model has no tensor '${name}' (is this an SDXL base checkpoint?)`);
    this.name = 'MissingWeightError';
  }
}

export class Params {
  private readonly cache: Map<string, Tensor>;

  constructor(
    private readonly graph: Graph,
    private readonly source: WeightLookup,
    private readonly component: string,
    private readonly prefix = '',
    cache?: Map<string, Tensor>,
  ) {
    this.cache = cache ?? new Map();
  }

  /** Weights under `name.` — mirrors the module tree of diffusers. */
  at(name: string): Params {
    return new Params(this.graph, this.source, this.component, this.prefix + name + '.', this.cache);
  }

  has(name: string): boolean {
    return this.source.has(this.prefix + name);
  }

  get(name: string): Tensor {
    const full = this.prefix + name;
    let t = this.cache.get(full);
    if (!t) {
      if (!this.source.has(full)) throw new MissingWeightError(full, this.component);
      t = this.graph.weight(this.source.ref(full), this.source.shape(full));
      this.cache.set(full, t);
    }
    return t;
  }

  /** A Linear weight, accepting the 1×1-conv layout some checkpoints store attention projections in. */
  linearWeight(name: string): Tensor {
    const w = this.get(name);
    return w.shape.length === 4 ? reshape(w, [w.shape[0]!, w.shape[1]!]) : w;
  }

  optional(name: string): Tensor | undefined {
    return this.has(name) ? this.get(name) : undefined;
  }
}
