// One label-check finding in words, the same in the app and on the command line.
import type { QualityIssue } from './api/types.js';

/** "3 things to look at on 12 images checked" */
export function qualitySummary(issues: number, images: number): string {
  return `${issues} ${issues === 1 ? 'thing' : 'things'} to look at on ${images} images checked`;
}

export function describeQualityIssue(issue: QualityIssue): string {
  const [measure, usual] = [issue.measure.toFixed(2), issue.usual.toFixed(2)];
  return issue.kind === 'far-from-usual'
    ? `${issue.partNames[0]} far from where it usually sits (${measure}; usually ${usual})`
    : `${issue.partNames.join('–')} ${issue.measure > issue.usual ? 'longer' : 'shorter'} than usual (${measure}; usually ${usual})`;
}
