// A run's report as one self-contained HTML file: every image embedded once (data URI) and
// drawn with its keypoints in their index colours, a strip per index showing where that index
// lands on each image, the loss curve as inline SVG, and the evaluation when there is one.
// Opens offline in any browser; nothing is fetched.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';

export interface ReportIndex {
  position: number;
  name: string;
  colour: string;
  token: number;
}

export interface ReportPoint {
  /** KeypointIndex.position. */
  position: number;
  /** Pixels of the image file. */
  x: number;
  y: number;
  score: number | null;
  corrected: boolean;
}

export interface ReportImage {
  name: string;
  file: string;
  width: number;
  height: number;
  points: ReportPoint[];
}

export interface ReportLoss {
  step: number;
  loss: number;
  sharpening: number;
  equivariance: number;
}

export interface ReportMetric {
  name: string;
  higherIsBetter: boolean;
  overall: number;
  perPart: Array<number | null>;
}

export interface ReportData {
  title: string;
  /** Shown first, in a box: what the reader must know (e.g. that the weights are random). */
  notes: string[];
  /** Label → value lines about the run (model, backend, steps, settings). */
  facts: Array<[string, string]>;
  indices: ReportIndex[];
  images: ReportImage[];
  losses: ReportLoss[];
  /** Loss weights, to show the parts as they add up to the loss. */
  weights: { sharpening: number; equivariance: number };
  evaluation: { protocol: string; parts: string[]; metrics: ReportMetric[] } | null;
}

/** Images larger than this are embedded as a JPEG of this longest side; smaller ones as they are. */
const EMBED_MAX_SIDE = 384;
const EMBED_MAX_BYTES = 150_000;

const escape = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const MIME: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
};

async function dataUri(file: string): Promise<string> {
  const bytes = fs.readFileSync(file);
  const mime = MIME[path.extname(file).toLowerCase()];
  if (mime && bytes.length <= EMBED_MAX_BYTES) return `data:${mime};base64,${bytes.toString('base64')}`;
  const small = await sharp(bytes)
    .resize(EMBED_MAX_SIDE, EMBED_MAX_SIDE, { fit: 'inside', withoutEnlargement: true })
    .flatten({ background: '#ffffff' })
    .jpeg({ quality: 85 })
    .toBuffer();
  return `data:image/jpeg;base64,${small.toString('base64')}`;
}

const fmt = (v: number) => (Math.abs(v) >= 100 || v === 0 ? v.toFixed(0) : v.toPrecision(3));

/** The loss and its weighted parts over the steps, as an SVG line chart. */
export function lossChart(losses: ReportLoss[], weights: ReportData['weights']): string {
  if (losses.length === 0) return '<p>No training steps recorded.</p>';
  const w = 640;
  const h = 240;
  const pad = { left: 56, right: 12, top: 12, bottom: 28 };
  const series = [
    { label: 'loss', colour: '#222222', values: losses.map((l) => l.loss) },
    {
      label: `${weights.sharpening} × sharpening`,
      colour: '#0067a5',
      values: losses.map((l) => weights.sharpening * l.sharpening),
    },
    {
      label: `${weights.equivariance} × equivariance`,
      colour: '#be0032',
      values: losses.map((l) => weights.equivariance * l.equivariance),
    },
  ];
  const all = series.flatMap((s) => s.values);
  const top = Math.max(...all);
  const bottom = Math.min(0, ...all);
  const first = losses[0]!.step;
  const last = losses.at(-1)!.step;
  const x = (step: number) => pad.left + ((step - first) / Math.max(1, last - first)) * (w - pad.left - pad.right);
  const y = (v: number) => pad.top + (1 - (v - bottom) / (top - bottom || 1)) * (h - pad.top - pad.bottom);
  const lines = series
    .map((s) => {
      const points = s.values.map((v, i) => `${x(losses[i]!.step).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
      return `<polyline fill="none" stroke="${s.colour}" stroke-width="1.5" points="${points}"><title>${escape(s.label)}</title></polyline>`;
    })
    .join('');
  const ticks = [bottom, (bottom + top) / 2, top]
    .map((v) => `<text x="${pad.left - 6}" y="${y(v) + 4}" text-anchor="end">${fmt(v)}</text>`)
    .join('');
  const axes =
    `<line x1="${pad.left}" y1="${h - pad.bottom}" x2="${w - pad.right}" y2="${h - pad.bottom}" stroke="#999"/>` +
    `<line x1="${pad.left}" y1="${pad.top}" x2="${pad.left}" y2="${h - pad.bottom}" stroke="#999"/>` +
    `<text x="${pad.left}" y="${h - 8}">step ${first}</text>` +
    `<text x="${w - pad.right}" y="${h - 8}" text-anchor="end">step ${last}</text>`;
  const legend = series
    .map((s) => `<span class="key"><i style="background:${s.colour}"></i>${escape(s.label)}</span>`)
    .join('');
  return `<svg class="chart" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" font-size="11">${axes}${ticks}${lines}</svg><div>${legend}</div>`;
}

function marker(point: ReportPoint, index: ReportIndex, radius: number): string {
  const title = `${index.name}${point.corrected ? ' (corrected by hand)' : ''}${point.score === null ? '' : `, score ${point.score.toPrecision(3)}`}`;
  const shape = point.corrected
    ? `<rect x="${point.x - radius}" y="${point.y - radius}" width="${2 * radius}" height="${2 * radius}"`
    : `<circle cx="${point.x}" cy="${point.y}" r="${radius}"`;
  return `${shape} fill="${index.colour}" stroke="#000" stroke-width="${radius / 3}"><title>${escape(title)}</title></${point.corrected ? 'rect' : 'circle'}>`;
}

/** One image with some of its points; the picture itself is a <use> of its single embedded copy. */
function imageView(
  image: ReportImage,
  id: number,
  points: ReportPoint[],
  indices: Map<number, ReportIndex>,
  px: number,
): string {
  const radius = Math.max(image.width, image.height) / 32;
  const marks = points.map((p) => marker(p, indices.get(p.position)!, radius)).join('');
  const scale = px / Math.max(image.width, image.height);
  return (
    `<svg viewBox="0 0 ${image.width} ${image.height}" width="${Math.round(image.width * scale)}" height="${Math.round(image.height * scale)}">` +
    `<use href="#image-${id}"/>${marks}</svg>`
  );
}

function evaluationTable(evaluation: NonNullable<ReportData['evaluation']>): string {
  const head = evaluation.metrics
    .map((m) => `<th>${escape(m.name)}<br><small>${m.higherIsBetter ? 'higher' : 'lower'} is better</small></th>`)
    .join('');
  const cell = (v: number | null) => `<td>${v === null ? '—' : v.toFixed(4)}</td>`;
  const rows = evaluation.parts
    .map(
      (part, j) =>
        `<tr><th>${escape(part)}</th>${evaluation.metrics.map((m) => cell(m.perPart[j] ?? null)).join('')}</tr>`,
    )
    .join('');
  const overall = `<tr class="overall"><th>overall</th>${evaluation.metrics.map((m) => cell(m.overall)).join('')}</tr>`;
  return `<p>${escape(evaluation.protocol)}</p><table><tr><th>part</th>${head}</tr>${rows}${overall}</table>`;
}

export async function renderReport(data: ReportData): Promise<string> {
  const indices = new Map(data.indices.map((i) => [i.position, i]));
  const uris = await Promise.all(data.images.map((image) => dataUri(image.file)));
  const defs = data.images
    .map(
      (image, id) =>
        `<image id="image-${id}" href="${uris[id]}" width="${image.width}" height="${image.height}" preserveAspectRatio="none"/>`,
    )
    .join('');
  const legend = data.indices
    .map(
      (i) =>
        `<span class="key"><i style="background:${i.colour}"></i>${escape(i.name)} <small>(token ${i.token})</small></span>`,
    )
    .join('');
  const grid = data.images
    .map(
      (image, id) =>
        `<figure>${imageView(image, id, image.points, indices, 200)}<figcaption>${escape(image.name)}</figcaption></figure>`,
    )
    .join('');
  const perIndex = data.indices
    .map((index) => {
      const strip = data.images
        .map((image, id) =>
          imageView(
            image,
            id,
            image.points.filter((p) => p.position === index.position),
            indices,
            96,
          ),
        )
        .join('');
      const scores = data.images.flatMap((image) =>
        image.points.filter((p) => p.position === index.position && p.score !== null).map((p) => p.score!),
      );
      const mean = scores.length ? (scores.reduce((a, b) => a + b, 0) / scores.length).toPrecision(3) : '—';
      return `<section class="index"><h3><i style="background:${index.colour}"></i>${escape(index.name)} <small>token ${index.token}, mean score ${mean}</small></h3><div class="strip">${strip}</div></section>`;
    })
    .join('');
  const notes = data.notes.length
    ? `<div class="notes">${data.notes.map((n) => `<p>${escape(n)}</p>`).join('')}</div>`
    : '';
  const facts = `<table class="facts">${data.facts.map(([k, v]) => `<tr><th>${escape(k)}</th><td>${escape(v)}</td></tr>`).join('')}</table>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(data.title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px}h3{font-size:15px;margin:12px 0 6px}
.notes{border:2px solid #be0032;background:#fff4f4;padding:4px 12px;border-radius:6px}
.facts th{text-align:left;padding-right:12px;font-weight:600;vertical-align:top}.facts td{text-align:left;overflow-wrap:anywhere}
.key{display:inline-flex;align-items:center;margin-right:14px;white-space:nowrap}
i{display:inline-block;width:12px;height:12px;border-radius:50%;border:1px solid #000;margin-right:5px}
figure{display:inline-block;margin:4px;text-align:center}figcaption{font-size:11px;color:#555}
.strip svg{margin:2px}table{border-collapse:collapse}td,th{padding:2px 8px;text-align:right}
th:first-child{text-align:left}.overall{border-top:1px solid #999;font-weight:600}
</style></head><body>
<svg width="0" height="0" style="position:absolute"><defs>${defs}</defs></svg>
<h1>${escape(data.title)}</h1>
${notes}
${facts}
<h2>Keypoints</h2><div>${legend}</div><p><small>Circles: predicted; squares: corrected by hand.</small></p>
<div>${grid}</div>
<h2>Keypoints per index</h2>${perIndex}
<h2>Training loss</h2>${lossChart(data.losses, data.weights)}
${data.evaluation ? `<h2>Evaluation against the ground truth</h2>${evaluationTable(data.evaluation)}` : ''}
</body></html>
`;
}

export async function writeReport(file: string, data: ReportData): Promise<string> {
  const absolute = path.resolve(file);
  fs.writeFileSync(absolute, await renderReport(data));
  return absolute;
}
