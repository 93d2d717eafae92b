// Editing what the user sees: corrections, the parts (name, colour, order), the skeleton, which run
// feeds the predictions, and the export of it all. Every edit tells other windows and browser tabs
// to refresh that part.
import type { Handlers } from '../dispatcher.js';
import type { SessionContext } from './context.js';

type KeypointMethods =
  | 'keypoints.correct'
  | 'keypoints.uncorrect'
  | 'parts.list'
  | 'parts.update'
  | 'parts.reorder'
  | 'runs.proposeMatch'
  | 'runs.adopt'
  | 'runs.activate'
  | 'skeleton.get'
  | 'skeleton.set'
  | 'groundTruth.summary'
  | 'export.coco'
  | 'export.csv';

export function keypointHandlers(context: SessionContext): Pick<Handlers, KeypointMethods> {
  const { services, events, allowed } = context;

  /** A change of which run feeds the predictions changes every image: every view refetches. */
  async function runChanged() {
    const project = await services.project.info();
    events.emit('project.changed', { project });
    events.emit('project.edited', { part: 'keypoints' });
    return project;
  }

  return {
    'keypoints.correct': async ({ imageId, points }) => {
      const saved = await services.keypoints.setCorrected(imageId, points);
      events.emit('project.edited', { part: 'keypoints', imageId });
      return saved;
    },
    'keypoints.uncorrect': async ({ imageId, partIds }) => {
      const removed = await services.keypoints.clearCorrected(imageId, partIds);
      events.emit('project.edited', { part: 'keypoints', imageId });
      return removed;
    },

    'parts.list': () => services.keypoints.listParts(),
    'parts.update': async ({ id, ...patch }) => {
      const part = await services.keypoints.updatePart(id, patch);
      events.emit('project.edited', { part: 'parts' });
      return part;
    },
    'parts.reorder': async ({ ids }) => {
      const parts = await services.keypoints.reorderParts(ids);
      events.emit('project.edited', { part: 'parts' });
      return parts;
    },

    'runs.proposeMatch': ({ runId }) => services.keypoints.proposeMatch(runId),
    'runs.adopt': async ({ runId, assignments }) => {
      await services.keypoints.adoptRun(runId, assignments);
      return runChanged();
    },
    'runs.activate': async ({ runId }) => {
      await services.project.updateSettings({ activeRunId: runId });
      return runChanged();
    },

    'skeleton.get': () => services.keypoints.getSkeleton(),
    'skeleton.set': async ({ edges }) => {
      const saved = await services.keypoints.setSkeleton(edges);
      events.emit('project.edited', { part: 'skeleton' });
      return saved;
    },

    'groundTruth.summary': () => services.groundTruth.summary(),

    'export.coco': async (request) =>
      services.exports.exportCoco({ ...request, file: allowed.check(request.file, 'export file', 'file') }),
    'export.csv': async (request) =>
      services.exports.exportCsv({ ...request, file: allowed.check(request.file, 'export file', 'file') }),
  };
}
