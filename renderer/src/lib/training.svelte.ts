// The training run the panel shows. Its history comes from the server on every load, so a
// reloaded window redraws the whole curve; live points arrive as events.
import { api } from '../api/index.js';
import type { TrainingView } from '../../../electron/api/types.js';
import { notices } from './notices.svelte.js';

class Training {
  run = $state<TrainingView | null>(null);

  async refresh(): Promise<void> {
    try {
      this.run = await api.call('training.current', {});
    } catch (error) {
      notices.error(error);
    }
  }
}

export const training = new Training();

api.on('training.state', ({ training: run }) => {
  training.run = run;
});
api.on('training.progress', ({ runId, point, etaSeconds }) => {
  const run = training.run;
  if (!run || run.runId !== runId) {
    void training.refresh();
    return;
  }
  training.run = { ...run, step: point.step, etaSeconds, history: [...run.history, point] };
});
