import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { drawTheta, invertAffine, thetaFromParams, type AffineRanges } from '../../../native/keypoints/affine.js';
import { Random } from '../../../native/keypoints/rng.js';
import { openGoldenCase } from '../../../native/parity/goldenCase.js';
import { goldenCaseDir } from '../../golden/paths.js';

const reference: AffineRanges = { rotationDegrees: 15, scale: [0.8, 1.0], translate: [0.25, 0.25] };

describe('affine warps', () => {
  const golden = openGoldenCase(goldenCaseDir());
  // The parsed meta drops the drawn parameters (theta_params); read them from the file itself.
  const raw = JSON.parse(readFileSync(join(goldenCaseDir(), 'golden/meta.json'), 'utf8')) as {
    step: { theta_params: { angle_deg: number; scale: number; tx: number; ty: number } };
    optimize: {
      schedule: Array<{
        theta: number[][];
        theta_params: { angle_deg: number; scale: number; tx: number; ty: number };
      }>;
    };
  };
  const params = (p: { angle_deg: number; scale: number; tx: number; ty: number }) => ({
    angleDeg: p.angle_deg,
    scale: p.scale,
    tx: p.tx,
    ty: p.ty,
  });

  it('builds the reference θ bit for bit from its drawn parameters (every golden schedule entry)', () => {
    expect(raw.optimize.schedule.length).toBeGreaterThan(0);
    for (const entry of raw.optimize.schedule) {
      expect(Array.from(thetaFromParams(params(entry.theta_params)))).toEqual(
        entry.theta.flat().map((v) => Math.fround(v)),
      );
    }
    expect(Array.from(thetaFromParams(params(raw.step.theta_params)))).toEqual(
      Array.from(golden.tensor('step_theta').data),
    );
  });

  it('draws parameters inside the configured ranges, reproducibly', () => {
    const a = new Random(3, 'warp');
    const b = new Random(3, 'warp');
    for (let i = 0; i < 500; i++) {
      const { params: p, theta } = drawTheta(a, reference);
      expect(Array.from(drawTheta(b, reference).theta)).toEqual(Array.from(theta));
      expect(Math.abs(p.angleDeg)).toBeLessThanOrEqual(15);
      expect(p.scale).toBeGreaterThanOrEqual(0.8);
      expect(p.scale).toBeLessThanOrEqual(1.0);
      expect(Math.abs(p.tx)).toBeLessThanOrEqual(0.25);
      expect(Math.abs(p.ty)).toBeLessThanOrEqual(0.25);
      // A rotation-scale block: equal diagonal, opposite off-diagonal, determinant s².
      expect(theta[0]).toBe(theta[4]);
      expect(theta[1]).toBe(-theta[3]!);
      expect(theta[0]! * theta[4]! - theta[1]! * theta[3]!).toBeCloseTo(p.scale ** 2, 6);
    }
  });

  it('inverts θ as a 3×3 matrix', () => {
    const theta = thetaFromParams({ angleDeg: -12.5, scale: 0.85, tx: 0.2, ty: -0.1 });
    const inv = invertAffine(theta);
    // Mapping a point with θ and then θ⁻¹ returns it.
    for (const [x, y] of [
      [0.3, -0.7],
      [-1, 1],
    ] as const) {
      const u = theta[0]! * x + theta[1]! * y + theta[2]!;
      const v = theta[3]! * x + theta[4]! * y + theta[5]!;
      expect(inv[0]! * u + inv[1]! * v + inv[2]!).toBeCloseTo(x, 6);
      expect(inv[3]! * u + inv[4]! * v + inv[5]!).toBeCloseTo(y, 6);
    }
    expect(() => invertAffine([1, 2, 0, 2, 4, 0])).toThrow(/singular/);
  });
});
