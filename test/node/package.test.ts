// The npm package as a user gets it: `npm pack` (dist/ is made by `npm run build`, which
// `npm test` runs first) holds the built JS (one entry per platform and their shared chunk), its
// types, the WGSL, README, CHANGELOG and LICENSE and nothing else; the tarball, installed into a
// fresh project (tools/package-app.mjs), imports as 'seqgpu' from plain Node and runs a kernel on
// Dawn, and builds into a fresh Vite app with its WGSL inlined. test/node/consumer.test.ts runs
// such an app under Vite's dev server, its production build and Node, in Chromium and on Dawn.
// The docs: every public export has TSDoc (tools/check-docs.mjs) and docs/API.md is current.
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkFromRepo, packAndInstall, type PackResult } from '../../tools/package-app.mjs';

const root = resolve('.');

/** Every .ts file under src/ (excluding tests), as the path of its declaration file in the package. */
function expectedTypes(dir = 'src'): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) out.push(...expectedTypes(rel));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') && !/\.test\.ts$/.test(e.name)) {
      out.push(rel.replace(/^src\//, 'dist/types/').replace(/\.ts$/, '.d.ts'));
    }
  }
  return out;
}

describe('package', () => {
  let dir: string;
  let pack: PackResult;
  let files: string[];
  let app: string; // a fresh project with the tarball installed as node_modules/seqgpu
  let cleanup = () => {};

  beforeAll(() => {
    for (const f of ['dist/index.js', 'dist/index.browser.js'])
      expect(existsSync(join(root, f)), `${f} is missing: run npm run build`).toBe(true);
    ({ dir, app, pack, cleanup } = packAndInstall(root));
    files = pack.files.map((f) => f.path).sort();
    linkFromRepo(app, ['webgpu']); // the optional peer, as `npm install webgpu` would add it
  }, 180_000);

  afterAll(() => cleanup());

  it('npm pack holds dist (JS + types), every shader, README, CHANGELOG, LICENSE and package.json', () => {
    for (const f of [
      'package.json',
      'README.md',
      'CHANGELOG.md',
      'LICENSE',
      'dist/index.js',
      'dist/index.browser.js',
      'dist/types/index.d.ts',
    ]) {
      expect(files, f).toContain(f);
    }
    const shaders = readdirSync(join(root, 'shaders')).filter((f) => f.endsWith('.wgsl'));
    expect(shaders.length).toBeGreaterThan(20);
    for (const s of shaders) expect(files, `shaders/${s}`).toContain(`shaders/${s}`);
    // One declaration file per source file, so every type the API names resolves.
    for (const d of expectedTypes()) expect(files, d).toContain(d);
    // The package.json that ships points at files that ship: types first, then one entry per
    // platform (Node opens Dawn; browsers and bundlers get navigator.gpu and no `webgpu` import).
    const manifest = JSON.parse(readFileSync(join(app, 'node_modules/seqgpu/package.json'), 'utf8'));
    const conditions = manifest.exports['.'];
    expect(Object.keys(conditions)).toEqual(['types', 'browser', 'node', 'default']);
    expect(conditions.node).toBe(manifest.main);
    expect(conditions.default).toBe(conditions.browser);
    for (const p of [manifest.main, manifest.types, manifest.browser, ...(Object.values(conditions) as string[])]) {
      expect(files, p).toContain(p.replace(/^\.\//, ''));
    }
    for (const k of ['repository', 'homepage', 'bugs', 'keywords', 'engines']) expect(manifest[k], k).toBeDefined();
    // The browser entry and the chunk it shares with Node's never name Dawn's package.
    for (const f of ['dist/index.browser.js', 'dist/seqgpu.js']) {
      expect(readFileSync(join(app, 'node_modules/seqgpu', f), 'utf8'), f).not.toMatch(/["'`]webgpu["'`]/);
    }
    expect(readFileSync(join(app, 'node_modules/seqgpu/dist/index.js'), 'utf8')).toContain('import("webgpu")');
  });

  it('npm pack holds no tests, bench, demo, tools, sources or fixtures', () => {
    const allowed = new RegExp(
      String.raw`^(package\.json|README\.md|CHANGELOG\.md|LICENSE|dist\/(index|index\.browser|seqgpu)\.js(\.map)?|` +
        String.raw`dist\/types\/.+\.d\.ts|shaders\/[\w-]+\.wgsl)$`,
    );
    expect(files.filter((f) => !allowed.test(f))).toEqual([]);
    const banned =
      /^(test|bench|demo|demo-dist|tools|src|docs|node_modules)\/|fixtures|\.test\.|\.spec\.|\.safetensors$|\.py$/;
    expect(files.filter((f) => banned.test(f))).toEqual([]);
    // The declaration files are the library's own (no test or bench types leaked into dist/types).
    expect(files.filter((f) => f.startsWith('dist/types/')).length).toBe(expectedTypes().length);
    expect(pack.files.reduce((n, f) => n + f.size, 0)).toBeLessThan(4_000_000);
  });

  it('the tarball imports as "seqgpu" from plain Node and multiplies on the GPU', () => {
    const out = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `
        import('seqgpu').then(async ({ requestGpu, Tensor, matmul }) => {
          const gpu = await requestGpu();
          const a = Tensor.from(gpu, [1, 2, 3, 4], [2, 2]);
          const b = Tensor.from(gpu, [1, 0, 2, 1, 0, 3], [2, 3]);
          console.log(JSON.stringify(Array.from(await matmul(gpu, a, b).read())));
          gpu.destroy();
        });`,
      ],
      { cwd: app, encoding: 'utf8', timeout: 120_000 },
    );
    // Resolved from the installed package, not from this repo.
    const resolved = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', `console.log(import.meta.resolve('seqgpu'))`],
      { cwd: app, encoding: 'utf8' },
    ).trim();
    expect(resolved).toContain(`${app}/node_modules/seqgpu/dist/index.js`);
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual([3, 0, 8, 7, 0, 18]);
  });

  it('the tarball builds into a fresh Vite app with the WGSL inlined', () => {
    const web = join(dir, 'web');
    mkdirSync(web);
    symlinkSync(join(app, 'node_modules'), join(web, 'node_modules'));
    writeFileSync(
      join(web, 'index.html'),
      '<!doctype html><html><body><pre id="out"></pre><script type="module" src="/main.ts"></script></body></html>\n',
    );
    writeFileSync(
      join(web, 'main.ts'),
      `import { requestGpu, Tensor, matmul, softmax } from 'seqgpu';
       async function main(): Promise<void> {
         const gpu = await requestGpu();
         const x = Tensor.from(gpu, [1, 2, 3, 4], [2, 2]);
         const y = softmax(gpu, matmul(gpu, x, x));
         document.getElementById('out')!.textContent = String(await y.read());
       }
       main().catch((e) => { document.getElementById('out')!.textContent = String(e); });
      `,
    );
    execFileSync(process.execPath, [join(root, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'], {
      cwd: web,
      encoding: 'utf8',
      timeout: 120_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const assets = readdirSync(join(web, 'dist/assets')).filter((f) => f.endsWith('.js'));
    expect(assets.length).toBeGreaterThan(0);
    const bundle = assets.map((f) => readFileSync(join(web, 'dist/assets', f), 'utf8')).join('\n');
    expect(readFileSync(join(web, 'dist/index.html'), 'utf8')).toContain('/assets/');
    // The kernels the app uses are in the bundle as WGSL source (a distinctive line of each).
    for (const shader of ['matmul.wgsl', 'softmax.wgsl']) {
      const lines = readFileSync(join(root, 'shaders', shader), 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => !l.startsWith('//') && !/["'`\\]/.test(l));
      const line = lines.reduce((a, b) => (b.length > a.length ? b : a), '');
      expect(line.length).toBeGreaterThan(30);
      expect(bundle, `${shader}: ${line}`).toContain(line);
    }
    // Dawn's Node bindings stay out of a browser bundle.
    expect(bundle).not.toMatch(/dawn\.node|webgpu\/dist/);
  });
});

describe('docs', () => {
  it('every public export and public member has TSDoc (tools/check-docs.mjs)', () => {
    let out = '';
    try {
      out = execFileSync(process.execPath, ['tools/check-docs.mjs'], {
        cwd: root,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (e) {
      const err = e as { stderr?: string; stdout?: string };
      throw new Error(`${err.stdout ?? ''}${err.stderr ?? ''}`);
    }
    expect(out).toMatch(/all \d+ public items/);
  });

  it('docs/API.md is what npm run docs generates from the current TSDoc', () => {
    let out = '';
    try {
      out = execFileSync(process.execPath, ['tools/api-docs.mjs', '--check'], {
        cwd: root,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (e) {
      const err = e as { stderr?: string; stdout?: string };
      throw new Error(`${err.stdout ?? ''}${err.stderr ?? ''}`);
    }
    expect(out).toContain('up to date');
  });
});
