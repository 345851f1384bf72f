// `npm run bench [-- --filter=REGEX --reps=N --peer-reps=N --full --smoke --transformer-t=128,512
// --kernels=step,persistent,wavefront --layers=1,3 --packed=both|0|1 --gpu-reps=N --steps-per-pair=N
// --seq-len=N --input-size=N --hidden=256 --batch=1,32 --tf=0 --ort=0 --tiles=1 --timeout-min=60]`:
// runs bench/index.html in headless Chromium, prints a table (medians, min–max, GFLOP/s, ratio to
// each peer with its 95 % CI) and writes the report as JSON to bench/results/. --smoke: the
// Transformer rows at test sizes; --transformer-t: their sequence lengths; the recurrent options
// are described in bench/suite.ts (benchOptions); --tiles=1: also a sweep of step tiles per
// recurrent step row; --timeout-min: the page's limit.
import { printReport, writeReport } from './report.mjs';
import { launchChromium, runPage, startServer } from '../tools/chromium.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? '1'];
  }),
);
const query = new URLSearchParams();
if (args.filter) query.set('filter', args.filter);
if (args.reps) query.set('reps', args.reps);
if (args['peer-reps']) query.set('peerReps', args['peer-reps']);
if (args.full) query.set('full', '1');
if (args.smoke) query.set('smoke', '1');
if (args['transformer-t']) query.set('transformerT', args['transformer-t']);
const keys = [
  'kernels',
  'layers',
  'packed',
  'gpu-reps',
  'steps-per-pair',
  'seq-len',
  'input-size',
  'hidden',
  'batch',
  'tf',
  'ort',
  'tiles',
];
for (const key of keys)
  if (args[key])
    query.set(
      key.replace(/-([a-z])/g, (_, c) => c.toUpperCase()),
      args[key],
    );
const timeoutMs = Number(args['timeout-min'] ?? 60) * 60_000;

const server = await startServer();
const chromium = await launchChromium();
let report;
try {
  report = await runPage(chromium.browser, `${server.url}/bench/index.html?${query}`, '__seqgpuBench', timeoutMs);
} finally {
  await chromium.close();
  await server.close();
}
if (report.error) {
  console.error(`bench failed: ${report.error}`);
  process.exitCode = 1;
}

printReport(report);
console.log(`\nwrote ${await writeReport(report)}`);
