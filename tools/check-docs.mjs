#!/usr/bin/env node
// Fails (exit 1) when an export of src/index.ts, or a public member of an exported class,
// interface or object type, has no TSDoc comment, or when a function, method or constructor
// does not document every parameter with @param. Run by `npm run check-docs` (part of pretest).
import { readApi, missingDocs } from './docs-model.mjs';

const api = readApi();
const problems = missingDocs(api);
const count = api.modules.reduce((n, m) => n + m.entries.reduce((k, e) => k + 1 + e.members.length, 0), 0);
if (problems.length) {
  console.error(`check-docs: ${problems.length} undocumented item(s) in the public API (${count} items):`);
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
console.log(`check-docs: all ${count} public items of ${api.entry} are documented`);
