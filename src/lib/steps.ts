// Step plan parsing: "10,25,50,100" or "10@2m,50@5m,100". Pure.
import type { Step } from './types.js';
import { parseDuration } from './duration.js';
import { splitList } from './lines.js';

export const STEPS_FORM =
  'use comma-separated percentages 1-100 in ascending order, each optionally with @duration, ending at 100, e.g. "10,25,50,100" or "10@2m,50@5m,100"';

/** A step as written: its bake time only when it carries one (`10@2m`). */
export interface PlannedStep {
  weight: number;
  bakeMs?: number;
}

/**
 * Parses the steps input. Each item is a whole percentage 1..100 (a trailing '%' is tolerated),
 * optionally followed by `@<duration>` (its bake time; otherwise `defaultBakeMs`). Items are
 * separated by commas (newlines also work). Weights must be strictly ascending and the last one
 * must be 100, because promotion happens at 100 %.
 * Throws Error(problem) where problem reads after the quoted input, e.g. `is not strictly ascending`.
 */
export function parseSteps(text: string, defaultBakeMs: number): Step[] {
  return withBake(parseStepPlan(text), defaultBakeMs);
}

/** Steps without their own bake time bake for `defaultBakeMs`. */
export function withBake(plan: PlannedStep[], defaultBakeMs: number): Step[] {
  return plan.map((s) => ({ weight: s.weight, bakeMs: s.bakeMs ?? defaultBakeMs }));
}

/** parseSteps without the default bake time (the `interval` input is parsed on its own). */
export function parseStepPlan(text: string): PlannedStep[] {
  const items = splitList(text);
  if (items.length === 0) throw new Error('is empty');
  const steps: PlannedStep[] = [];
  for (const item of items) {
    if (item === '') throw new Error('has an empty item');
    const at = item.indexOf('@');
    const w = (at < 0 ? item : item.slice(0, at)).trim().replace(/%$/, '');
    const bake = at < 0 ? undefined : item.slice(at + 1).trim();
    if (!/^\d+(?:\.\d+)?$/.test(w)) throw new Error(`has "${item}" which is not a percentage`);
    const weight = Number(w);
    if (!Number.isInteger(weight)) throw new Error(`has ${w} which is not a whole percentage`);
    if (weight < 1 || weight > 100) throw new Error(`has ${weight} which is outside 1-100`);
    let bakeMs: number | undefined;
    if (bake !== undefined) {
      try {
        bakeMs = parseDuration(bake);
      } catch (e) {
        throw new Error(
          `has bake time "${bake}" in "${item}" which ${(e as Error).message} (durations look like 30s, 2m, 1m30s)`,
        );
      }
    }
    const prev = steps[steps.length - 1];
    if (prev && weight <= prev.weight)
      throw new Error(`is not strictly ascending (${weight} after ${prev.weight})`);
    steps.push(bakeMs === undefined ? { weight } : { weight, bakeMs });
  }
  const last = steps[steps.length - 1].weight;
  if (last !== 100) throw new Error(`ends at ${last}, not 100 (promotion happens at 100)`);
  return steps;
}
