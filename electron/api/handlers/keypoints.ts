// Editing what the user sees: corrections, the indices (name, colour, order), the skeleton, and
// the export of it all. Every edit tells other windows and browser tabs to refresh that part.
import type { Handlers } from '../dispatcher.js';
import { ApiError } from '../errors.js';
import type { SessionContext } from '../session.js';

type KeypointMethods =
  | 'keypoints.correct'
  | 'keypoints.uncorrect'
  | 'indices.list'
  | 'indices.update'
  | 'indices.reorder'
  | 'skeleton.get'
  | 'skeleton.set'
  | 'groundTruth.summary'
  | 'export.coco';

export function keypointHandlers(context: SessionContext): Pick<Handlers, KeypointMethods> {
  const { services, events, allowed } = context;

  async function currentRunId(): Promise<number> {
    const info = await services.project.info();
    if (info.currentRunId === null)
      throw new ApiError('conflict', 'This project has no keypoint indices yet: train first.');
    return info.currentRunId;
  }

  return {
    'keypoints.correct': async ({ imageId, points }) => {
      const saved = await services.keypoints.setCorrected(imageId, points);
      events.emit('project.edited', { part: 'keypoints', imageId });
      return saved;
    },
    'keypoints.uncorrect': async ({ imageId, indexIds }) => {
      const removed = await services.keypoints.clearCorrected(imageId, indexIds);
      events.emit('project.edited', { part: 'keypoints', imageId });
      return removed;
    },

    'indices.list': () => services.keypoints.listIndices(),
    'indices.update': async ({ id, ...patch }) => {
      const index = await services.keypoints.updateIndex(id, patch);
      events.emit('project.edited', { part: 'indices' });
      return index;
    },
    'indices.reorder': async ({ ids }) => {
      const indices = await services.keypoints.reorderIndices(await currentRunId(), ids);
      events.emit('project.edited', { part: 'indices' });
      return indices;
    },

    'skeleton.get': () => services.keypoints.getSkeleton(),
    'skeleton.set': async ({ edges }) => {
      const saved = await services.keypoints.setSkeleton(await currentRunId(), edges);
      events.emit('project.edited', { part: 'skeleton' });
      return saved;
    },

    'groundTruth.summary': () => services.groundTruth.summary(),

    'export.coco': async (request) =>
      services.exports.exportCoco({ ...request, file: allowed.check(request.file, 'export file', 'file') }),
  };
}
