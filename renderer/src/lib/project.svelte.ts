// The open project as the whole UI sees it: its summary, its parts and skeleton. Other
// windows' edits and server events refresh it.
import { api } from '../api/index.js';
import type { AppInfo, Part, ProjectInfo, SkeletonEdge } from '../../../electron/common/api/types.js';
import { notices } from './notices.svelte.js';

export type View = 'images' | 'image' | 'gallery' | 'parts' | 'training' | 'model' | 'evaluation' | 'export';

class ProjectState {
  info = $state<AppInfo | null>(null);
  project = $state<ProjectInfo | null>(null);
  parts = $state<Part[]>([]);
  skeleton = $state<SkeletonEdge[]>([]);
  view = $state<View>('images');
  /** The image open in the image view. */
  imageId = $state<number | null>(null);
  /** Bumped whenever keypoints change, so the grid and the view refetch what they show. */
  keypointsVersion = $state(0);
  /** Bumped whenever an image is marked reviewed or not, here or in another window. */
  reviewsVersion = $state(0);

  /** Parts in the user's display order, hidden ones included. */
  ordered = $derived([...this.parts].sort((a, b) => a.order - b.order));

  /** The newest run that found keypoints but whose indices do not stand for parts yet. */
  unmatchedRun = $derived(this.project?.runs.find((run) => run.indexCount > 0 && !run.matched) ?? null);

  async load(): Promise<void> {
    this.info = await api.call('app.info', {});
    this.setProject(await api.call('projects.current', {}));
  }

  setProject(project: ProjectInfo | null): void {
    const changed = project?.path !== this.project?.path;
    this.project = project;
    if (project === null) {
      this.parts = [];
      this.skeleton = [];
      return;
    }
    this.parts = project.parts;
    if (changed) {
      this.view = 'images';
      this.imageId = null;
    }
    void this.refreshSkeleton();
  }

  async refreshProject(): Promise<void> {
    this.setProject(await api.call('projects.current', {}));
  }

  async refreshParts(): Promise<void> {
    if (this.project) this.parts = await api.call('parts.list', {});
  }

  async refreshSkeleton(): Promise<void> {
    if (!this.project) return;
    try {
      this.skeleton = await api.call('skeleton.get', {});
    } catch (error) {
      notices.error(error);
    }
  }

  openImage(id: number): void {
    this.imageId = id;
    this.view = 'image';
  }
}

export const app = new ProjectState();

api.on('project.changed', ({ project }) => app.setProject(project));
// The header's counts (corrected images…) follow edits, at most a few times a second.
let countsTimer: ReturnType<typeof setTimeout> | undefined;
api.on('project.edited', ({ part }) => {
  if (part === 'parts') void app.refreshParts();
  else if (part === 'skeleton') void app.refreshSkeleton();
  else if (part === 'reviews') app.reviewsVersion++;
  else {
    app.keypointsVersion++;
    clearTimeout(countsTimer);
    countsTimer = setTimeout(() => void app.refreshProject().catch(() => undefined), 400);
  }
});
