// The main job, `npm run train` (demo/train.mjs), run as a user runs it: a child process (it
// inherits tools/with-swiftshader.sh's environment from vitest) on a small corpus file written
// here, with tiny sizes. Checks its log lines, that --save then --resume continues the loss curve
// exactly (losses equal to one uninterrupted run's, from --log-json), that bad flags exit with
// code 2 naming the flag before anything trains, and that Ctrl-C (SIGINT) saves a checkpoint.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const cli = resolve('demo/train.mjs');
const tiny = ['--hidden', '16', '--embedding', '8', '--seq-len', '8', '--batch', '4', '--lr', '0.01', '--seed', '7'];

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; `onStdout` sees the output so far and may signal the child. */
function train(
  args: string[],
  opts: { cwd?: string; onStdout?: (out: string, child: ReturnType<typeof spawn>) => void } = {},
): Promise<Result> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [cli, ...args], {
      cwd: opts.cwd,
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      opts.onStdout?.(stdout, child);
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', fail);
    child.on('close', (code, signal) => done({ code, signal, stdout, stderr }));
  });
}

/** The per-step losses of a --log-json file, by step. */
function losses(file: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const line of readFileSync(file, 'utf8').trim().split('\n')) {
    const r = JSON.parse(line);
    if (typeof r.loss === 'number') out.set(r.step, r.loss);
  }
  return out;
}

describe('npm run train (demo/train.mjs)', () => {
  let dir: string;
  let corpus: string;
  // One uninterrupted 12-step run, shared by the tests that look at it (run on first use).
  let full: Promise<Result> | null = null;
  const fullRun = () =>
    (full ??= train([
      '--corpus',
      corpus,
      ...tiny,
      '--steps',
      '12',
      '--log-every',
      '3',
      '--eval-every',
      '6',
      '--log-json',
      join(dir, 'full.jsonl'),
    ]));

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'seqgpu-train-'));
    corpus = join(dir, 'corpus.txt');
    writeFileSync(corpus, readFileSync('demo/data/sonnets.txt', 'utf8').slice(0, 3000));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('bad flags exit with code 2 naming the flag and the value, before any training', async () => {
    const cases: [string[], RegExp][] = [
      [['--lr=abc'], /--lr must be a number > 0, got 'abc'/],
      [['--lr', '-1'], /--lr/],
      [['--hidden', '12.5'], /--hidden must be an integer .*, got '12\.5'/],
      [['--model', 'rnn'], /--model must be lstm or gru, got 'rnn'/],
      [['--time', '0'], /--time must be a number > 0, got '0'/],
      [['--bogus'], /Unknown option '--bogus'/],
      [['--steps', '5', '--steps', '6'], /--steps is given more than once/],
      [['--corpus', join(dir, 'missing.txt')], /--corpus: cannot read '.*missing\.txt' \(ENOENT\)/],
      [['--resume', join(dir, 'missing.safetensors')], /--resume: cannot read the checkpoint/],
      [['--corpus', corpus, '--seq-len', '4000'], /--seq-len 4000 needs at least 4001/],
      [['--prompt', '@', '--corpus', corpus], /--prompt has "@", which is not in the corpus/],
    ];
    for (const [args, message] of cases) {
      const r = await train(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stdout, args.join(' ')).not.toMatch(/adapter|step/);
    }
  });

  it('trains, printing train/val loss, perplexity, tokens/s, samples and the unigram baseline', async () => {
    const r = await fullRun();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/corpus: .*corpus\.txt: 3,000 characters, vocabulary \d+; training 2,700, validation 300/);
    expect(r.stdout).toMatch(/unigram baseline .*: \d\.\d{4} nats\/char \(ppl \d+\.\d\d\)/);
    expect(r.stdout.match(/^step +\d+ +train loss \d+\.\d{4} \(ppl \d+\.\d\d\) +[\d,]+ tok\/s/gm)).toHaveLength(4);
    expect(
      r.stdout.match(/^step +\d+ +val loss +\d+\.\d{4} \(ppl \d+\.\d\d\) +on (all )?[\d,]+ held-out characters/gm),
    ).toHaveLength(2);
    expect(r.stdout).toMatch(/^sample at step 12 \(temperature 0\.8\):\n {2}\| From fairest /m);
    expect(r.stdout).toMatch(/^done \(steps\): step 12; this run 12 steps in .* tokens\/s$/m);
    expect(r.stdout).toMatch(/^val loss +\d+\.\d{4} \(ppl [\d.]+\) on all 2\d\d held-out characters$/m);
    expect(r.stdout).toMatch(/^the model (beats|does not beat) the unigram baseline \d\.\d{4}/m);
    const l = losses(join(dir, 'full.jsonl'));
    expect([...l.keys()]).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    for (const v of l.values()) expect(Number.isFinite(v)).toBe(true);
    expect(l.get(12)!).toBeLessThan(l.get(1)!);
  });

  it('--save then --resume continues the loss curve exactly', async () => {
    expect((await fullRun()).code).toBe(0);
    const ckpt = join(dir, 'run.safetensors');
    const first = await train([
      '--corpus',
      corpus,
      ...tiny,
      '--steps',
      '6',
      '--save',
      ckpt,
      '--log-json',
      join(dir, 'a.jsonl'),
    ]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(`saved step 6 to ${ckpt}`);
    expect(existsSync(`${ckpt}.json`)).toBe(true);
    // The resumed run takes its options from the checkpoint; a conflicting one is refused.
    const conflict = await train(['--resume', ckpt, '--hidden', '32', '--steps', '12']);
    expect(conflict.code).toBe(2);
    expect(conflict.stderr).toMatch(/--hidden 32 differs from the resumed run's 16/);
    const second = await train(['--resume', ckpt, '--steps', '12', '--log-json', join(dir, 'b.jsonl')]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain('resumed at step 6');
    const full = losses(join(dir, 'full.jsonl'));
    const a = losses(join(dir, 'a.jsonl'));
    const b = losses(join(dir, 'b.jsonl'));
    expect([...b.keys()]).toEqual([7, 8, 9, 10, 11, 12]);
    for (const [step, loss] of [...a, ...b]) expect(loss, `step ${step}`).toBe(full.get(step));
  });

  it('Ctrl-C (SIGINT) saves a checkpoint to the default path and exits with 130', async () => {
    let sent = false;
    const r = await train(['--corpus', corpus, ...tiny, '--time', '300', '--log-every', '1'], {
      cwd: dir,
      onStdout: (out, child) => {
        if (!sent && /^step +3 +train loss/m.test(out)) {
          sent = true;
          child.kill('SIGINT');
        }
      },
    });
    expect(sent).toBe(true);
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toContain('Ctrl-C: stopping after this step');
    const path = 'checkpoints/train-interrupted.safetensors';
    expect(r.stdout).toMatch(new RegExp(`saved step \\d+ to ${path}`));
    expect(existsSync(join(dir, path))).toBe(true);
    const sidecar = JSON.parse(readFileSync(join(dir, `${path}.json`), 'utf8'));
    expect(sidecar.step).toBeGreaterThanOrEqual(3);
    // The saved run resumes.
    const resumed = await train(['--resume', join(dir, path), '--steps', String(sidecar.step + 2)], { cwd: dir });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain(`resumed at step ${sidecar.step}`);
  });
});
