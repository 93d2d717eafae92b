// After the server comes back (a network blip or a restart), put the session back where the user
// was: reopen their project if the server no longer has it open, then send the queued corrections.
import { api } from '../api/index.js';
import { edits } from './edits.svelte.js';
import { notices } from './notices.svelte.js';
import { app } from './project.svelte.js';
import { grid } from './grid.svelte.js';
import { training } from './training.svelte.js';

export async function restoreSession(restarted: boolean): Promise<void> {
  const wanted = app.project?.path ?? null;
  try {
    app.info = await api.call('app.info', {});
    let current = await api.call('projects.current', {});
    if (wanted !== null && current?.path !== wanted) {
      current = await api.call('projects.open', { path: wanted });
      notices.show(
        'info',
        `The server ${restarted ? 'restarted' : 'came back'}; ${current.settings.name} is open again.`,
      );
    }
    app.setProject(current);
    if (current) {
      await edits.sendQueued(current.path);
      app.keypointsVersion++;
      await grid.reset(current.path);
      await training.refresh();
    }
  } catch (error) {
    notices.show('error', `The server is back but your project could not be reopened: ${(error as Error).message}`);
  }
}
