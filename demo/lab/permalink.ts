// The permalink: the lab's configuration (kernel, that kernel's fields, reps, peers, tile sweep)
// in the URL's hash, `#kernel=matmul&M=64&N=64&K=64&…&reps=2&peerReps=1&tfjs=1&ort=1&sweep=0`,
// kept current as the panel changes (history.replaceState) and read back when the page opens.
// Unknown keys and values of the wrong kind are ignored (the defaults stay), so an old link
// still opens.
import type { KernelSpec, Params } from './kernels.js';
import type { LabSettings } from './panel.js';

const SETTINGS = ['reps', 'peerReps', 'tfjs', 'ort', 'sweep'] as const;

/** The hash (without '#') that encodes `settings` and the chosen kernel's fields. */
export function encodePermalink(settings: LabSettings, params: Record<string, Params>): string {
  const q = new URLSearchParams();
  q.set('kernel', settings.kernel);
  for (const [k, v] of Object.entries(params[settings.kernel] ?? {}))
    q.set(k, typeof v === 'boolean' ? (v ? '1' : '0') : String(v));
  for (const k of SETTINGS) {
    const v = settings[k];
    q.set(k, typeof v === 'boolean' ? (v ? '1' : '0') : String(v));
  }
  return q.toString();
}

function parseLike(current: unknown, text: string): number | boolean | string | undefined {
  if (typeof current === 'boolean')
    return text === '1' || text === 'true' ? true : text === '0' || text === 'false' ? false : undefined;
  if (typeof current === 'number') {
    const v = Number(text);
    return text.trim() !== '' && Number.isFinite(v) ? v : undefined;
  }
  return typeof current === 'string' ? text : undefined;
}

/**
 * Applies a permalink's hash to `settings` and `params` (in place): the kernel, its fields and the
 * settings it names. Returns the keys applied (for the page to say what it restored).
 */
export function applyPermalink(
  hash: string,
  kernels: readonly KernelSpec[],
  settings: LabSettings,
  params: Record<string, Params>,
): string[] {
  const q = new URLSearchParams(hash.replace(/^#/, ''));
  const applied: string[] = [];
  const kernel = q.get('kernel');
  if (kernel && kernels.some((k) => k.key === kernel)) {
    settings.kernel = kernel;
    applied.push('kernel');
  }
  const spec = kernels.find((k) => k.key === settings.kernel)!;
  for (const f of spec.fields) {
    const text = q.get(f.key);
    if (text === null) continue;
    const v = parseLike(params[spec.key][f.key], text);
    if (v === undefined || (f.kind === 'choice' && !f.options.includes(String(v)))) continue;
    params[spec.key][f.key] = v;
    applied.push(f.key);
  }
  for (const k of SETTINGS) {
    const text = q.get(k);
    if (text === null) continue;
    const v = parseLike(settings[k], text);
    // reps: a positive integer, or the default stays.
    if (v === undefined || (typeof v === 'number' && !(Number.isInteger(v) && v > 0))) continue;
    (settings as unknown as Record<string, unknown>)[k] = v;
    applied.push(k);
  }
  return applied;
}
