// Shared by the project commands (new, import, info, export): argument parsing with clear
// errors, and running against the services with their input errors shown as user errors.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isServiceError } from '../common/errors.js';
import type { SkippedFile } from '../common/images.js';
import { storageFailure } from '../db/storageErrors.js';
import { createServices, type ServiceHost } from '../services/container.js';
import { UserError, type CliIO } from './command.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** One line: what is wrong, then how the command is used. */
export function usageError(problem: string, usage: string): UserError {
  return new UserError(`${problem} (${usage.replace(/^Usage: /, 'usage: ')})`);
}

export function parseCommandArgs<O extends Options>(args: string[], options: O, usage: string) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    // Node's message goes on to explain `--`; its first sentence is the problem.
    throw usageError((e as Error).message.split('. ')[0] as string, usage);
  }
}

/**
 * Runs `work` with fresh services; closes the project afterwards whatever happens. A full or
 * failing disk met while reading (the services report it themselves when writing) is one line too.
 */
export async function withServices<T>(work: (services: ServiceHost) => Promise<T>): Promise<T> {
  const services = createServices();
  try {
    return await work(services);
  } catch (e) {
    if (isServiceError(e)) throw new UserError(e.message);
    const storage = services.context.isOpen ? storageFailure(e, services.context.db.path) : null;
    if (storage) throw new UserError(storage.message);
    throw e;
  } finally {
    services.dispose();
  }
}

export function printSkipped(io: CliIO, skipped: SkippedFile[]): void {
  if (skipped.length === 0) return;
  io.out(`Skipped ${skipped.length} file${skipped.length === 1 ? '' : 's'}:`);
  for (const file of skipped) io.out(`  ${file.path}: ${file.reason}`);
}

export const rate = (count: number, seconds: number): string =>
  `${seconds.toFixed(1)} s, ${seconds > 0 ? Math.round(count / seconds) : count} images/s`;
