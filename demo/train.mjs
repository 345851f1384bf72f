// `npm run train`: trains a character-level language model with seqgpu in Node — Dawn's WebGPU,
// on SwiftShader where there is no GPU — on the bundled public-domain corpus or on --corpus FILE,
// with a held-out validation split, a unigram baseline, samples and checkpoints (--save,
// --resume, Ctrl-C). `--help` lists the flags; the pieces are in demo/train/.
//   npm run train -- --corpus my.txt --model gru --hidden 256 --time 600 --save runs/my.safetensors
import { UsageError, helpText } from './train/args.mjs';
import { prepare } from './train/setup.mjs';
import { run } from './train/run.mjs';
import { ArgumentError, GpuError } from '../dist/index.js';

let plan;
try {
  plan = prepare(process.argv.slice(2));
} catch (e) {
  if (!(e instanceof UsageError)) throw e;
  process.stderr.write(`train: ${e.message}\nRun with --help for the flags.\n`);
  process.exit(2);
}
if (plan.help) {
  process.stdout.write(`${helpText()}\n`);
  process.exit(0);
}

// The first Ctrl-C (or SIGTERM) stops after the current step and saves; a second one quits.
let stopped = null;
const onSignal = (reason) => () => {
  if (stopped) process.exit(130);
  stopped = reason;
  process.stderr.write(
    `\n${reason === 'interrupted' ? 'Ctrl-C' : 'SIGTERM'}: stopping after this step ` +
      `and saving a checkpoint (again to quit at once)\n`,
  );
};
process.on('SIGINT', onSignal('interrupted'));
process.on('SIGTERM', onSignal('terminated'));

try {
  process.exit(await run(plan, { stopped: () => stopped }));
} catch (e) {
  // seqgpu's errors say what is wrong and what to do (no adapter, device lost, …); anything
  // else is a bug: its stack helps.
  process.stderr.write(
    `train: ${e instanceof GpuError || e instanceof ArgumentError ? `${e.name}: ${e.message}` : (e?.stack ?? e)}\n`,
  );
  process.exit(1);
}
