#!/usr/bin/env node
// Typechecks the code a user copies: every ```ts block of README.md and the example programs in
// examples/ (*.mjs, checked as JavaScript with checkJs), with `import … from 'seqgpu'` resolved to
// this repo's src/index.ts.
//
// Each ```ts (or ```typescript) block is written to its own module, README-L<line>.ts (line = the
// README line of the block's first code line), in a temporary directory, with `export {};`
// appended so top-level await is allowed even in a block that imports nothing. No prelude is
// added: a block must declare everything it uses. A tsconfig there maps 'seqgpu' to src/index.ts
// (`paths`) and has the project's strictness, the DOM and Node types (a block may run in either);
// `node_modules` is a symlink to this repo's. Diagnostics are reported at README.md:<line>:<col>.
//
//   node tools/readme-code.mjs            prints the diagnostics; exit 1 when there are any
// Used by test/node/readme.test.ts.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The fenced code blocks of a Markdown text (fences at the start of a line, ``` or ~~~).
 * @returns [{ lang, info, code, line }]: `lang` the info string's first word (lower case), `line`
 *   the 1-based line of the first code line.
 */
export function codeBlocks(markdown) {
  const lines = markdown.split('\n');
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,}|~{3,})\s*(.*)$/.exec(lines[i]);
    if (!open) continue;
    const fence = open[1];
    const info = open[2].trim();
    const start = i + 1;
    // Closed by a line of only the same fence character, at least as many.
    const closes = (l) => {
      const t = l.trim();
      return t.length >= fence.length && t === fence[0].repeat(t.length);
    };
    let end = start;
    while (end < lines.length && !closes(lines[end])) end++;
    blocks.push({
      lang: (info.split(/\s+/)[0] ?? '').toLowerCase(),
      info,
      code: lines.slice(start, end).join('\n'),
      line: start + 1,
    });
    i = end;
  }
  return blocks;
}

/** The ```ts / ```typescript blocks of a Markdown text. */
export function tsBlocks(markdown) {
  return codeBlocks(markdown).filter((b) => b.lang === 'ts' || b.lang === 'typescript');
}

/**
 * Typechecks README.md's ```ts blocks and examples/*.mjs with `tsc --noEmit`.
 * @param {{ root?: string, readme?: string, examples?: string[] }} opts - `root`: the repo (default:
 *   the current directory); `readme`: the Markdown file (default README.md); `examples`: the JS
 *   files to check too (default: every examples/*.mjs).
 * @returns {{ blocks: number, files: string[], ok: boolean, diagnostics: string[], output: string }}
 */
export function typecheckReadme({ root = resolve('.'), readme = 'README.md', examples } = {}) {
  root = resolve(root);
  const readmePath = resolve(root, readme);
  const blocks = tsBlocks(readFileSync(readmePath, 'utf8'));
  const exampleDir = join(root, 'examples');
  examples ??= readdirSync(exampleDir)
    .filter((f) => f.endsWith('.mjs'))
    .sort()
    .map((f) => join(exampleDir, f));
  const dir = mkdtempSync(join(tmpdir(), 'seqgpu-readme-'));
  try {
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
    const names = new Map(); // generated file → README line of its first code line
    for (const b of blocks) {
      const name = `README-L${b.line}.ts`;
      writeFileSync(join(dir, name), `${b.code}\nexport {};\n`);
      names.set(name, b.line);
    }
    const tsconfig = {
      compilerOptions: {
        target: 'ES2022',
        module: 'ESNext',
        moduleResolution: 'Bundler',
        lib: ['ES2022', 'DOM'],
        types: ['@webgpu/types', 'node', 'vite/client'],
        strict: true,
        noImplicitOverride: true,
        skipLibCheck: true,
        esModuleInterop: true,
        noEmit: true,
        allowJs: true,
        checkJs: true,
        paths: { seqgpu: [join(root, 'src/index.ts')] },
      },
      files: [...names.keys(), join(root, 'src/vite-env.d.ts'), ...examples],
    };
    writeFileSync(join(dir, 'tsconfig.json'), `${JSON.stringify(tsconfig, null, 2)}\n`);
    let output = '';
    let ok = true;
    try {
      output = execFileSync(
        process.execPath,
        [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json'), '--pretty', 'false'],
        {
          cwd: dir,
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
          timeout: 300_000,
        },
      );
    } catch (e) {
      ok = false;
      output = `${e.stdout ?? ''}${e.stderr ?? ''}` || String(e);
    }
    // README-L120.ts(3,7): error TS2304: … → README.md:122:7: error TS2304: …
    const rel = readmePath.startsWith(`${root}/`) ? readmePath.slice(root.length + 1) : readmePath;
    const mapped = output.replace(
      /(?:^|(?<=\n))(?:[^\n]*[/\\])?(README-L(\d+)\.ts)\((\d+),(\d+)\)/g,
      (_m, _name, start, row, col) => `${rel}:${Number(start) + Number(row) - 1}:${col}`,
    );
    // Other files (examples, src) relative to the repo: ../../work/main/examples/x.mjs(3,1) → examples/x.mjs(3,1)
    const tidy = mapped.replace(/(?:^|(?<=\n))([^\n(]+\.(?:m?js|ts))\((\d+),(\d+)\)/g, (m, file, row, col) => {
      const abs = resolve(dir, file);
      return abs.startsWith(`${root}/`) ? `${abs.slice(root.length + 1)}:${row}:${col}` : m;
    });
    const diagnostics = tidy.split('\n').filter((l) => /error TS\d+/.test(l));
    return {
      blocks: blocks.length,
      files: [...names.keys(), ...examples],
      ok: ok && diagnostics.length === 0,
      diagnostics,
      output: tidy,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = typecheckReadme();
  if (r.ok) {
    console.log(
      `readme-code: ${r.blocks} \`\`\`ts blocks of README.md and ${r.files.length - r.blocks} examples typecheck`,
    );
  } else {
    console.error(r.output.trim() || 'tsc failed without output');
    console.error(`readme-code: ${r.diagnostics.length} error(s) in README.md's \`\`\`ts blocks or examples/`);
    process.exit(1);
  }
}
