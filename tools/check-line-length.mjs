// Fails when a line of the project's TypeScript/JavaScript is longer than 120 characters (code points),
// the width Prettier formats to (.prettierrc.json). Prettier does not break long strings or comments;
// this check does not let them through either. Run by `npm run lint` (part of `npm test`'s pretest).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const MAX = 120;
const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { encoding: 'utf8' })
  .split('\n')
  .filter((f) => /\.(ts|mts|cts|mjs|js|cjs)$/.test(f) && !f.startsWith('dist/'));
const long = [];
for (const file of files) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    continue; // listed by git but deleted in the work tree
  }
  text.split('\n').forEach((line, i) => {
    const width = [...line].length;
    if (width > MAX) long.push(`${file}:${i + 1}: ${width} characters`);
  });
}
if (long.length) {
  console.error(`${long.length} line(s) longer than ${MAX} characters:\n${long.join('\n')}`);
  process.exit(1);
}
console.log(`check-line-length: ${files.length} files, no line longer than ${MAX} characters`);
