#!/usr/bin/env node
// Writes docs/API.md, the API reference, from the TSDoc of every export of src/index.ts
// (signature + documentation, grouped by the file that declares it). `npm run docs`.
//   node tools/api-docs.mjs           write docs/API.md
//   node tools/api-docs.mjs --check   exit 1 if docs/API.md differs from what would be written
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { readApi } from './docs-model.mjs';

const OUT = 'docs/API.md';

/** The Markdown of the API reference for a model read by readApi. */
export function renderApi(api) {
  const names = new Set(
    api.modules.flatMap((m) =>
      m.entries.flatMap((e) => [
        e.name,
        ...(e.kind === 'class'
          ? e.members.filter((x) => x.kind !== 'constructor').map((x) => `${e.name}.${x.name}`)
          : []),
      ]),
    ),
  );
  const out = [];
  out.push('# seqgpu API reference', '');
  out.push(
    `Every export of \`${api.entry}\` (\`import { … } from 'seqgpu'\`), grouped by the file that declares it.`,
    'Generated from the TSDoc in `src/` by `npm run docs` (`tools/api-docs.mjs`); do not edit by hand —',
    'a test fails when this file is out of date. Shapes are row-major and written `[dim0, dim1, …]`;',
    'errors named here are `ShapeError` (bad argument, thrown before any GPU work) and `GpuError`.',
    '',
  );
  out.push('## Contents', '');
  for (const m of api.modules) {
    out.push(
      `- [${m.file}](#${anchor(m.file)}): ${m.entries.map((e) => `[${e.name}](#${anchor(e.name)})`).join(', ')}`,
    );
  }
  out.push('');
  for (const m of api.modules) {
    out.push(`## ${m.file}`, '');
    for (const e of m.entries) {
      out.push(`### ${e.name}`, '');
      out.push('```ts', e.signature, '```', '');
      renderDoc(out, e.doc, names);
      if (!e.members.length) continue;
      if (e.kind === 'class') {
        for (const mem of e.members) {
          const label = mem.kind === 'constructor' ? `new ${e.name}()` : `${e.name}.${mem.name}`;
          out.push(`#### ${label}`, '');
          out.push('```ts', mem.signature, '```', '');
          renderDoc(out, mem.doc, names);
        }
      } else {
        out.push('| member | description |', '|---|---|');
        for (const mem of e.members) {
          out.push(`| \`${cell(mem.signature)}\` | ${cell(docAsText(mem.doc, names))} |`);
        }
        out.push('');
      }
    }
  }
  return (
    out
      .join('\n')
      .replace(/\n{3,}/g, '\n\n')
      .trimEnd() + '\n'
  );
}

function renderDoc(out, doc, names) {
  if (!doc) return;
  if (doc.summary) out.push(links(doc.summary, names), '');
  const params = doc.tags.filter((t) => t.tag === 'param' || t.tag === 'typeParam');
  if (params.length) {
    out.push('Parameters:', '');
    for (const p of params) out.push(`- \`${p.name}\` — ${indent(links(p.text, names))}`);
    out.push('');
  }
  for (const t of doc.tags) {
    if (t.tag === 'param' || t.tag === 'typeParam') continue;
    const text = links(t.text, names);
    if (t.tag === 'example') {
      out.push('Example:', '');
      out.push(/^\s*```/.test(text) ? text : ['```ts', text, '```'].join('\n'), '');
    } else if (t.tag === 'remarks') out.push(text, '');
    else {
      const label =
        { returns: 'Returns', throws: 'Throws', defaultValue: 'Default', see: 'See', deprecated: 'Deprecated' }[
          t.tag
        ] ?? `@${t.tag}`;
      out.push(`${label}: ${text}`, '');
    }
  }
}

/** One table cell's text for an interface member: the doc's summary and tags on one line. */
function docAsText(doc, names) {
  if (!doc) return '';
  const parts = [doc.summary];
  for (const t of doc.tags) {
    if (t.tag === 'defaultValue') parts.push(`Default: ${t.text}`);
    else if (t.tag === 'example') parts.push(`Example: ${t.text.replace(/```\w*/g, '')}`);
    else parts.push(`${t.tag === 'param' ? `\`${t.name}\`` : t.tag}: ${t.text}`);
  }
  return links(parts.filter(Boolean).join(' '), names);
}

/** `{@link Name}` → a link to Name's section when it is an export, else `Name` in code. */
function links(text, names) {
  return text.replace(/\{@link\s+([^}\s|]+)(?:\s*\|?\s*([^}]*))?\}/g, (_, target, label) => {
    const shown = label?.trim() || target;
    const linked = names.has(target) ? target : names.has(target.split('.')[0]) ? target.split('.')[0] : null;
    return linked ? `[\`${shown}\`](#${anchor(linked)})` : `\`${shown}\``;
  });
}

function cell(text) {
  return text
    .replace(/\|/g, '\\|')
    .replace(/\s*\n\s*/g, ' ')
    .trim();
}

function indent(text) {
  return text.replace(/\n/g, '\n  ');
}

/** GitHub's heading anchor: lower case, punctuation other than - and _ dropped, spaces → -. */
function anchor(heading) {
  return heading
    .toLowerCase()
    .replace(/[^\w\- ]/g, '')
    .replace(/ /g, '-');
}

const isMain = process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname);
if (isMain) {
  const text = renderApi(readApi());
  if (process.argv.includes('--check')) {
    const current = existsSync(OUT) ? readFileSync(OUT, 'utf8') : '';
    if (current !== text) {
      const a = current.split('\n');
      const b = text.split('\n');
      let i = 0;
      while (i < a.length && a[i] === b[i]) i++;
      console.error(
        `api-docs: ${OUT} is out of date (first difference at line ${i + 1}: ` +
          `${JSON.stringify(a[i] ?? '<end>')} vs ${JSON.stringify(b[i] ?? '<end>')}); run npm run docs`,
      );
      process.exit(1);
    }
    console.log(`api-docs: ${OUT} is up to date`);
  } else {
    writeFileSync(OUT, text);
    console.log(`api-docs: wrote ${OUT} (${text.split('\n').length} lines)`);
  }
}
