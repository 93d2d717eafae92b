// What a job keeps in a run's `progress` JSON: where it got to, which process is working on
// it (pid, host, heartbeat), which model it used, and the results of the later phases. A
// process that dies leaves status 'running' behind; the heartbeat tells that apart from a
// run that is really going on, so `--resume` can take over a run whose worker is gone.

import os from 'node:os';
import type { ModelSource } from '../../common/jobs.js';
import type { JsonObject, TrainingRun } from '../../common/runs.js';
import type { RunStore } from '../../db/runStore.js';

/** A heartbeat older than this means the process is gone (another host, or a hung one). */
export const STALE_HEARTBEAT_MS = 2 * 60_000;

export interface RunOwner {
  pid: number;
  host: string;
  heartbeatAt: string;
}

export const thisProcess = (): RunOwner => ({
  pid: process.pid,
  host: os.hostname(),
  heartbeatAt: new Date().toISOString(),
});

/** Merges `patch` into the run's progress JSON (keys set to undefined are left as they were). */
export function updateProgress(runs: RunStore, runId: number, patch: Record<string, unknown>): JsonObject {
  const current = runs.run(runId)?.progress ?? {};
  const next = { ...current } as Record<string, unknown>;
  for (const [key, value] of Object.entries(patch)) if (value !== undefined) next[key] = value;
  const json = JSON.parse(JSON.stringify(next)) as JsonObject;
  runs.setProgress(runId, json);
  return json;
}

export const heartbeat = (runs: RunStore, runId: number): void =>
  void updateProgress(runs, runId, { owner: thisProcess() as unknown as JsonObject });

function ownerOf(run: TrainingRun): RunOwner | null {
  const owner = run.progress?.owner as Partial<RunOwner> | undefined;
  if (
    !owner ||
    typeof owner.pid !== 'number' ||
    typeof owner.host !== 'string' ||
    typeof owner.heartbeatAt !== 'string'
  )
    return null;
  return owner as RunOwner;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Why a 'running' run is not really running any more, or null when its worker looks alive.
 * `activeHere`: the run is being worked on by a job of this process right now.
 */
export function interruption(run: TrainingRun, activeHere: boolean, now = Date.now()): string | null {
  if (run.status !== 'running') return null;
  const owner = ownerOf(run);
  if (!owner) return 'it was left running with no heartbeat';
  if (owner.host === os.hostname()) {
    if (owner.pid === process.pid) return activeHere ? null : 'its job in this process is gone';
    if (!processAlive(owner.pid)) return `its process ${owner.pid} is gone`;
  }
  const age = now - Date.parse(owner.heartbeatAt);
  return age > STALE_HEARTBEAT_MS ? `its last heartbeat was ${Math.round(age / 1000)} s ago` : null;
}

/** Describes who holds a live run, for "already running" errors. */
export function ownerText(run: TrainingRun): string {
  const owner = ownerOf(run);
  if (!owner) return 'another process';
  const age = Math.max(0, Math.round((Date.now() - Date.parse(owner.heartbeatAt)) / 1000));
  return `process ${owner.pid} on ${owner.host} (heartbeat ${age} s ago)`;
}

/** The model a run was trained with, as its train job recorded it. */
export function runModel(run: TrainingRun): ModelSource | null {
  const model = run.progress?.model as Partial<ModelSource> | undefined;
  if (!model || typeof model.path !== 'string') return null;
  return {
    path: model.path,
    ...(typeof model.unetConfig === 'string' ? { unetConfig: model.unetConfig } : {}),
    ...(typeof model.vaeConfig === 'string' ? { vaeConfig: model.vaeConfig } : {}),
  };
}
