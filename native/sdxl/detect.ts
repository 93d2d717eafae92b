// Recognises what the user pointed at, from configs and tensor names/shapes only (no weights
// read), so a wrong download gets "this is an SD 1.5 checkpoint" instead of a missing-tensor error.
import fs from 'node:fs';
import path from 'node:path';
import { readRegularTextFileSync } from '../weights/regularFile.js';
import { openSafetensors, type SafetensorsFile } from '../weights/safetensors.js';
import { UNET_PREFIX, VAE_PREFIX } from './singleFile.js';
import { loadSdxlModel, ModelLoadError, statModelPath, type LoadedModel, type LoadOptions } from './load.js';

export type ModelKind =
  | 'sdxl-base'
  | 'sdxl-refiner'
  | 'sd1'
  | 'sd2'
  | 'inpainting'
  | 'lora'
  | 'vae-only'
  | 'unet-only'
  | 'text-encoder'
  | 'unknown';

export interface Detection {
  kind: ModelKind;
  format: 'diffusers' | 'single-file';
  /** What the model is, in the user's words ("an SD 1.x model"). */
  description: string;
  /** True when the workstation can run it. */
  usable: boolean;
  /** For unusable models: what it is and what is needed instead. */
  problem?: string;
}

const NEED = 'the workstation needs an SDXL base UNet and VAE';

// Widths that identify the published families. SDXL is recognised by its architecture (text_time
// conditioning) rather than its sizes, so small models of the SDXL architecture count as SDXL.
/** The refiner's context is OpenCLIP bigG alone (1280); its add_embedding takes 1280 + 5 × 256. */
const REFINER_CONTEXT = 1280;
const REFINER_PROJECTION_INPUT = 2560;
const SD1_CONTEXT = 768;
const SD2_CONTEXT = 1024;

const DESCRIPTIONS: Record<ModelKind, string> = {
  'sdxl-base': 'an SDXL base model',
  'sdxl-refiner': 'an SDXL refiner model',
  sd1: 'a Stable Diffusion 1.x model',
  sd2: 'a Stable Diffusion 2.x model',
  inpainting: 'an inpainting model (9 input channels)',
  lora: 'a LoRA (a small add-on for another model, not a model)',
  'vae-only': 'a VAE on its own (no UNet)',
  'unet-only': 'a UNet on its own (no VAE)',
  'text-encoder': 'a text encoder on its own',
  unknown: 'not a model the workstation recognises',
};

function detection(kind: ModelKind, format: Detection['format'], hint?: string): Detection {
  const description = DESCRIPTIONS[kind];
  if (kind === 'sdxl-base') return { kind, format, description, usable: true };
  const problem = `this is ${description}; ${NEED}${hint ? ` (${hint})` : ''}`;
  return { kind, format, description, usable: false, problem };
}

interface UNetTraits {
  contextDim: number | undefined;
  inChannels: number | undefined;
  /** Input width of add_embedding, when the UNet has SDXL's text_time conditioning. */
  textTimeInput: number | undefined;
}

function classifyUNet(t: UNetTraits): ModelKind {
  if (t.inChannels !== undefined && t.inChannels !== 4) return t.inChannels === 9 ? 'inpainting' : 'unknown';
  if (t.textTimeInput !== undefined) {
    const refiner = t.contextDim === REFINER_CONTEXT && t.textTimeInput === REFINER_PROJECTION_INPUT;
    return refiner ? 'sdxl-refiner' : 'sdxl-base';
  }
  if (t.contextDim === SD1_CONTEXT) return 'sd1';
  if (t.contextDim === SD2_CONTEXT) return 'sd2';
  return 'unknown';
}

function readJsonObject(file: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(readRegularTextFileSync(file));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function detectFolder(dir: string): Detection {
  const has = (sub: string) => fs.existsSync(path.join(dir, sub));
  if (!has('unet')) {
    if (has('vae')) return detection('vae-only', 'diffusers');
    if (has('text_encoder') || has('text_encoder_2')) return detection('text-encoder', 'diffusers');
    if (has('config.json') && has('diffusion_pytorch_model.safetensors')) {
      return detection(
        'unknown',
        'diffusers',
        'this looks like one component folder; choose the model folder that holds unet/ and vae/',
      );
    }
    return detection(
      'unknown',
      'diffusers',
      'a diffusers model folder holds unet/ and vae/; a single-file model is one .safetensors file',
    );
  }
  const cfg = readJsonObject(path.join(dir, 'unet', 'config.json'));
  if (!cfg) return detection('unknown', 'diffusers', `unet/config.json is missing or not JSON`);
  const cross = cfg.cross_attention_dim;
  const kind = classifyUNet({
    contextDim: typeof cross === 'number' ? cross : undefined,
    inChannels: typeof cfg.in_channels === 'number' ? cfg.in_channels : 4,
    textTimeInput:
      cfg.addition_embed_type === 'text_time' && typeof cfg.projection_class_embeddings_input_dim === 'number'
        ? cfg.projection_class_embeddings_input_dim
        : undefined,
  });
  if (kind === 'sdxl-base' && !has('vae')) return detection('unet-only', 'diffusers', 'the folder has no vae/');
  return detection(kind, 'diffusers');
}

function detectFile(file: SafetensorsFile): Detection {
  const names = file.names();
  if (names.some((n) => /(^|[._])lora[._]/.test(n) || n.includes('.lora_down.') || n.includes('.lora_A.'))) {
    return detection('lora', 'single-file');
  }
  const unetKeys = names.filter((n) => n.startsWith(UNET_PREFIX));
  const hasVae = names.some((n) => n.startsWith(VAE_PREFIX));
  if (unetKeys.length) {
    const crossKey = unetKeys.find((k) => k.endsWith('.attn2.to_k.weight'));
    const conv = UNET_PREFIX + 'input_blocks.0.0.weight';
    const labelEmb = UNET_PREFIX + 'label_emb.0.0.weight';
    const kind = classifyUNet({
      contextDim: crossKey ? file.info(crossKey).shape[1] : undefined,
      inChannels: file.has(conv) ? file.info(conv).shape[1] : undefined,
      textTimeInput: file.has(labelEmb) ? file.info(labelEmb).shape[1] : undefined,
    });
    if (kind === 'sdxl-base' && !hasVae)
      return detection('unet-only', 'single-file', 'the file has no first_stage_model.* tensors');
    return detection(kind, 'single-file');
  }
  if (hasVae) return detection('vae-only', 'single-file');
  // Files holding one component under diffusers or original names, without the checkpoint prefixes.
  if (names.some((n) => n.startsWith('add_embedding.') || n.startsWith('down_blocks.') || n.startsWith('conv_in.'))) {
    return detection(
      'unet-only',
      'single-file',
      'a diffusers UNet weights file: choose the model folder that holds unet/ and vae/',
    );
  }
  if (names.some((n) => /^(encoder|decoder)\.(down|up|mid|conv_in|down_blocks|up_blocks|mid_block)[._]/.test(n))) {
    return detection('vae-only', 'single-file');
  }
  if (names.some((n) => /^(conditioner\.embedders\.|cond_stage_model\.|text_model\.|text_projection\.)/.test(n))) {
    return detection('text-encoder', 'single-file');
  }
  return detection('unknown', 'single-file');
}

/** What the path holds. Throws only when it cannot be read at all (missing, not safetensors). */
export function detectModel(modelPath: string): Detection {
  const { abs, stat } = statModelPath(modelPath);
  if (stat.isDirectory()) return detectFolder(abs);
  if (!abs.endsWith('.safetensors')) {
    const pickle = /\.(ckpt|pt|pth|bin)$/.test(abs)
      ? ': PyTorch pickle files can run code when opened, convert it to .safetensors'
      : '';
    throw new ModelLoadError(`${abs}: not a .safetensors file or a diffusers model folder${pickle}`);
  }
  return detectFile(openSafetensors(abs));
}

export class UnsupportedModelError extends ModelLoadError {
  constructor(
    readonly modelPath: string,
    readonly detection: Detection,
  ) {
    super(`${modelPath}: ${detection.problem ?? detection.description}`);
    this.name = 'UnsupportedModelError';
  }
}

/** Recognises, then loads: the entry point for anything the user picks as "the model". */
export function openUserModel(modelPath: string, opts: LoadOptions = {}): { detection: Detection; model: LoadedModel } {
  const d = detectModel(modelPath);
  if (!d.usable) throw new UnsupportedModelError(path.resolve(modelPath), d);
  return { detection: d, model: loadSdxlModel(modelPath, opts) };
}
