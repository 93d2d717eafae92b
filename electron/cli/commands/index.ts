import type { CliCommand } from '../command.js';
import { parityCommand } from './parity.js';
import { newCommand } from './new.js';
import { importCommand } from './import.js';
import { infoCommand } from './info.js';
import { exportCommand } from './export.js';
import { modelCheckCommand } from './modelCheck.js';
import { serveCommand } from './serve.js';
import { trainCommand } from './train.js';
import { keypointsCommand } from './keypoints.js';
import { evaluateCommand } from './evaluate.js';
import { checkCommand } from './check.js';
import { demoCommand } from './demo.js';
import { workerCommand } from './worker.js';

/** Every command of `skp`; add new ones here (one import per file). */
export const commands: CliCommand[] = [
  parityCommand,
  newCommand,
  importCommand,
  infoCommand,
  exportCommand,
  modelCheckCommand,
  serveCommand,
  trainCommand,
  keypointsCommand,
  evaluateCommand,
  checkCommand,
  demoCommand,
  workerCommand,
];
