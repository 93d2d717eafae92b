// What the Evaluation and image views show of a run: the evaluation against the ground truth (run
// as a job, stored with the run), how consistently each index lands, and one index's attention map.
import { conflict, notFound } from '../common/errors.js';
import type { EvaluationReport, HeatMap, IndexConsistency } from '../common/api/types.js';
import type { EvaluationResult, JobService } from '../common/jobs.js';
import type { ImageService, ProjectService } from '../common/services.js';
import { AttentionMapStore } from '../db/attentionMapStore.js';
import { ImageStore } from '../db/imageStore.js';
import { RunStore } from '../db/runStore.js';
import type { ProjectContext } from './projectContext.js';

/** What the index choice stored with a run: the K tokens and on how many images each was chosen. */
interface IndexChoice {
  tokens?: number[];
  counts?: number[];
  imagesUsed?: number;
}

export class EvaluationService {
  constructor(
    private readonly context: ProjectContext,
    private readonly project: ProjectService,
    private readonly images: ImageService,
    private readonly jobs: JobService,
  ) {}

  /** Fits the regressor to the ground truth and measures it; resolves when the job has stored the result. */
  async evaluate(): Promise<EvaluationReport> {
    const runId = await this.currentRunId();
    const started = await this.jobs.start({ kind: 'evaluate', runId });
    const ended = await this.jobs.wait(started.jobId);
    if (ended.state !== 'done') throw conflict(`The evaluation ${ended.state}: ${ended.error ?? 'no reason given'}`);
    const result = this.storedEvaluation(runId);
    if (!result) throw new Error('The evaluation finished but stored no result.');
    return result;
  }

  async last(): Promise<EvaluationReport | null> {
    const info = await this.project.info();
    return info.currentRunId === null ? null : this.storedEvaluation(info.currentRunId);
  }

  /** Per part, through the current run's index for it: the share of the index-choice images on which its token was
   * among the K chosen. Empty before the choice. */
  async indexConsistency(): Promise<IndexConsistency[]> {
    const info = await this.project.info();
    if (info.currentRunId === null) return [];
    const choice = new RunStore(this.context.db).run(info.currentRunId)?.progress?.indexChoice as
      IndexChoice | undefined;
    if (!choice?.tokens || !choice.counts || !choice.imagesUsed) return [];
    const { tokens, counts, imagesUsed } = choice;
    return info.indices.flatMap((index) => {
      const at = tokens.indexOf(index.token);
      if (at < 0 || index.partId === null) return [];
      return [{ partId: index.partId, consistency: (counts[at] ?? 0) / imagesUsed }];
    });
  }

  /** The attention map of the current run's index for `partId` on one image, as stored by Find keypoints. */
  async attentionMap(imageId: number, partId: number): Promise<HeatMap> {
    const info = await this.project.info();
    const index = info.indices.find((i) => i.partId === partId);
    if (!index) {
      const part = info.parts.find((p) => p.id === partId);
      if (!part) throw notFound(`The project has no part ${partId}.`);
      throw notFound(
        `Run ${info.currentRunId ?? '(none)'} has no index for ${part.displayName}, so there is no attention map to show.`,
      );
    }
    const image = await this.images.get(imageId);
    const stored = new AttentionMapStore(this.context.db).read(index.runId, imageId);
    const peak = stored?.peaks[index.position];
    if (!stored || peak === undefined) {
      throw notFound(
        `${image.path} has no attention maps of run ${index.runId} yet: Find keypoints keeps them for every image it works on.`,
      );
    }
    const area = stored.side * stored.side;
    const bytes = stored.values.subarray(index.position * area, (index.position + 1) * area);
    return {
      width: stored.side,
      height: stored.side,
      // Four decimals are finer than the 1/255 steps stored, and keep the JSON short.
      values: Array.from(bytes, (b) => Math.round((b / 255) * 1e4) / 1e4),
      peak,
    };
  }

  private async currentRunId(): Promise<number> {
    const info = await this.project.info();
    if (info.currentRunId === null) throw conflict('No run has chosen keypoint indices yet: train first.');
    return info.currentRunId;
  }

  /** The run's stored evaluation with the paths of its images (the stored JSON keeps ids only). */
  private storedEvaluation(runId: number): EvaluationReport | null {
    const stored = (new RunStore(this.context.db).run(runId)?.progress?.evaluation ?? null) as EvaluationResult | null;
    if (!stored) return null;
    const images = new ImageStore(this.context.db);
    return {
      ...stored,
      images: (stored.images ?? []).map((row) => ({
        ...row,
        path: images.get(row.imageId)?.path ?? `image ${row.imageId} (no longer in the project)`,
      })),
    };
  }
}
