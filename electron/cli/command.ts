// One CLI command = one file under commands/, registered in commands/index.ts.
// Commands are thin: parse arguments, call a service, print. No logic lives here.

export interface CliIO {
  out(line: string): void;
  err(line: string): void;
}

export interface CliCommand {
  /** Words after `skp`, e.g. "new" or "model check". */
  name: string;
  summary: string;
  usage: string;
  /** Returns the process exit code. Throwing a UserError prints its message with no stack. */
  run(args: string[], io: CliIO): Promise<number>;
}

/** An error caused by the user's input: printed as-is, exit code 2. */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}
