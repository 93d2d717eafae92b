// Everything a job checks before it spends a second of compute: the model opens and is an
// SDXL UNet + VAE, the settings are in range and fit the model (latent grid, controlled
// layers), the images exist. Each failure is a bad-input error that names what and where.

import fs from 'node:fs';
import path from 'node:path';
import { badInput } from '../../common/errors.js';
import type { ImageRecord } from '../../common/images.js';
import type { BackendPreference, ModelSource } from '../../common/jobs.js';
import { ImageStore } from '../../db/imageStore.js';
import type { ProjectDatabase } from '../../db/database.js';
import { RunStore } from '../../db/runStore.js';
import { readSettings } from '../../db/settingsStore.js';
import {
  parseRunSettings,
  SettingsError,
  type ModelGeometry,
  type RunSettings,
} from '../../../native/keypoints/settings.js';
import type { Backend, BackendInfo } from '../../../native/runtime/backend.js';
import { providerOrder } from '../../../native/runtime/providers.js';
import { selectBackend } from '../../../native/runtime/select.js';
import { openUserModel } from '../../../native/sdxl/detect.js';
import type { LoadedModel } from '../../../native/sdxl/load.js';
import { controlledSites } from '../../../native/sdxl/unet.js';

/** Recognises the model first, so an SD 1.x file or a lone VAE is named as such rather than failing to load. */
export function openModel(source: ModelSource): LoadedModel {
  const where = path.resolve(source.path);
  try {
    return openUserModel(where, { unetConfig: source.unetConfig, vaeConfig: source.vaeConfig }).model;
  } catch (e) {
    const message = (e as Error).message;
    throw badInput(`model: ${message.includes(where) ? message : `${where}: ${message}`}`);
  }
}

/** Pixels per latent cell and latent cells per cell of the lowest-resolution attention grid. */
export function modelGeometry(model: LoadedModel): ModelGeometry {
  return {
    latentDownscale: 2 ** (model.vae.config.blockOutChannels.length - 1),
    attentionDownscale: 2 ** (model.unet.config.blockOutChannels.length - 1),
  };
}

/** Parses run settings against this model: ranges, combinations, and layers the image size reaches. */
export function settingsForModel(raw: unknown, model: LoadedModel, where = 'settings'): RunSettings {
  let settings: RunSettings;
  try {
    settings = parseRunSettings(raw, where, modelGeometry(model));
  } catch (e) {
    if (e instanceof SettingsError) throw badInput(e.message);
    throw e;
  }
  try {
    controlledSites(model.unet.config, settings.imageSize / modelGeometry(model).latentDownscale, settings);
  } catch (e) {
    throw badInput(
      `${where}: layers: at imageSize ${settings.imageSize} ${(e as Error).message} (raise maxQueryTokens, lower imageSize or pick other layers)`,
    );
  }
  return settings;
}

/** The images a run learns from and votes its indices on: every image not set aside for testing. */
export function trainingImages(db: ProjectDatabase): ImageRecord[] {
  return new ImageStore(db).all().filter((image) => image.split !== 'test');
}

/** Fails when there is nothing to work on or image files have gone missing. */
export function checkImages(images: ImageRecord[], what: string): void {
  if (images.length === 0) {
    throw badInput(`the project has no images ${what}; import a folder first (skp import <project> <folder>)`);
  }
  const missing = images.filter((image) => !fs.existsSync(image.absolutePath));
  if (missing.length > 0) {
    const shown = missing.slice(0, 3).map((image) => image.absolutePath);
    const more = missing.length > 3 ? ` and ${missing.length - 3} more` : '';
    throw badInput(
      `${missing.length} image file${missing.length === 1 ? ' is' : 's are'} missing: ${shown.join(', ')}${more}`,
    );
  }
}

/** Fast precision is a choice of the backend's arithmetic: one without it refuses the run (no float32 in its place). */
export function checkPrecision(backend: Backend, settings: RunSettings): void {
  if (settings.fastPrecision && !backend.info.fastPrecision) {
    throw badInput(
      `fastPrecision: ${backend.info.label} has no fast precision; it needs the native CUDA backend on an NVIDIA GPU (turn Fast precision off to run here)`,
    );
  }
}

/** The backend as the run's "Runs on" shows it: with fast precision, the label says so. */
export const runsOn = (backend: Backend, settings: RunSettings): BackendInfo =>
  settings.fastPrecision ? { ...backend.info, label: `${backend.info.label}, fast precision` } : backend.info;

/** What the run's log says of its arithmetic. */
export const precisionLine = (backend: Backend, settings: RunSettings): string =>
  settings.fastPrecision
    ? `fast precision: ${backend.info.fastPrecision} (results close to, not equal to, float32's)`
    : 'precision: float32, as the reference';

export async function chooseBackend(prefer: BackendPreference | undefined): Promise<Backend> {
  const choice = prefer ?? 'auto';
  const known = ['auto', ...providerOrder] as const;
  if (!(known as readonly string[]).includes(choice)) {
    throw badInput(`backend: "${choice}" is not one of ${known.join(', ')}`);
  }
  try {
    return await selectBackend({ prefer: choice as (typeof known)[number] });
  } catch (e) {
    throw badInput(`backend: ${(e as Error).message}`);
  }
}

/** The model a job uses: the one asked for, else the run's own, else the project's model reference. */
export function modelSourceFor(
  db: ProjectDatabase,
  asked: ModelSource | undefined,
  ofRun: ModelSource | null,
): ModelSource {
  if (asked) return asked;
  if (ofRun) return ofRun;
  const { modelId } = readSettings(db);
  const reference = modelId === null ? null : new RunStore(db).model(modelId);
  if (!reference) {
    throw badInput(
      'no model: give the SDXL weights with --model <folder or .safetensors> (it is then kept with the project)',
    );
  }
  return { path: reference.path };
}
