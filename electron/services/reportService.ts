// A run's HTML report: what the project holds about the run (reportData.ts), rendered to one
// self-contained file by resources/report.
import { writeReport } from '../../resources/report/report.js';
import type { ProjectContext } from './projectContext.js';
import { reportDataFor, type ReportOptions } from './reportData.js';

export class ReportService {
  constructor(private readonly context: ProjectContext) {}

  /** Writes the report of run `runId` to `file`; resolves with its absolute path. */
  write(file: string, runId: number, options: ReportOptions): Promise<string> {
    return writeReport(file, reportDataFor(this.context.db, runId, options));
  }
}
