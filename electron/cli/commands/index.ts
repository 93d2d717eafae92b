import type { CliCommand } from '../command.js';

/** Every command of `skp`; add new ones here (one import per file). */
export const commands: CliCommand[] = [];
