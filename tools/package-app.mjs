// The npm package as a user gets it, installed into a throwaway project: `npm pack` of this repo
// (dist/ must be built: `npm run build`), then `npm install` of the tarball into a fresh app
// with no network (`--offline`): seqgpu has no runtime dependency (its kernels are reflected at
// build time, tools/wgsl-reflect.mjs), so npm needs no registry. Tools the app would install
// itself (vite, the optional `webgpu` peer) are linked from this repo with linkFromRepo.
// Used by test/node/package.test.ts and test/node/consumer.test.ts.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/**
 * Packs the repo at `root` into a temp dir and installs the tarball into `<dir>/app`.
 * Returns { dir, app, pack: { filename, files: [{ path, size }] }, cleanup() }.
 */
export function packAndInstall(root = resolve('.')) {
  const dir = mkdtempSync(join(tmpdir(), 'seqgpu-pkg-'));
  try {
    // --ignore-scripts: dist/ is already built (prepack would rebuild it).
    const json = execFileSync(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 120_000,
    });
    const [pack] = JSON.parse(json);
    const app = join(dir, 'app');
    mkdirSync(app);
    writeFileSync(
      join(app, 'package.json'),
      `${JSON.stringify(
        {
          name: 'seqgpu-consumer',
          private: true,
          type: 'module',
          dependencies: {
            seqgpu: `file:../${pack.filename}`,
          },
        },
        null,
        2,
      )}\n`,
    );
    execFileSync(npm, ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], {
      cwd: app,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 120_000,
    });
    if (!existsSync(join(app, 'node_modules/seqgpu/package.json')))
      throw new Error(`npm install of ${pack.filename} installed no node_modules/seqgpu`);
    return { dir, app, pack, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/** Symlinks packages from the repo's node_modules into `app`'s (after `npm install`, which would prune them). */
export function linkFromRepo(app, names, root = resolve('.')) {
  for (const name of names) {
    const target = join(app, 'node_modules', name);
    if (!existsSync(target)) symlinkSync(join(root, 'node_modules', name), target);
  }
}
