// Packs files into a one-layer OCI image archive that `ctr images import` accepts (the cluster's pause
// image; no registry is reachable to pull one). Usage:
//   node oci-archive.mjs --out img.tar --name gochive.local/pause:1 --entrypoint /pause \
//     [--user 65535:65535] --file <host path>:<path in image> [--file ...]
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { Buffer } from 'node:buffer';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const files = args.flatMap((a, i) => (a === '--file' ? [args[i + 1]] : []));
const out = opt('out');
const name = opt('name');
const entrypoint = opt('entrypoint');
if (!out || !name || !entrypoint || files.length === 0) {
  process.stderr.write(
    'usage: oci-archive.mjs --out F --name N --entrypoint P [--user U] --file SRC:DST...\n',
  );
  process.exit(2);
}

const work = mkdtempSync(path.join(os.tmpdir(), 'oci-archive-'));
try {
  const rootfs = path.join(work, 'rootfs');
  for (const f of files) {
    const [src, dst] = f.split(':');
    const target = path.join(rootfs, dst);
    mkdirSync(path.dirname(target), { recursive: true });
    copyFileSync(src, target);
    chmodSync(target, statSync(src).mode & 0o777);
  }
  const layout = path.join(work, 'layout');
  const blobs = path.join(layout, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const blob = (buf) => {
    const digest = createHash('sha256').update(buf).digest('hex');
    writeFileSync(path.join(blobs, digest), buf);
    return { digest: `sha256:${digest}`, size: buf.length };
  };
  // Reproducible layer: fixed owner and mtime, sorted names.
  const layerTar = path.join(work, 'layer.tar');
  execFileSync('tar', [
    '--sort=name',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--mtime=@0',
    '-C',
    rootfs,
    '-cf',
    layerTar,
    '.',
  ]);
  const layerBuf = readFileSync(layerTar);
  const layer = blob(layerBuf);
  const config = blob(
    Buffer.from(
      JSON.stringify({
        architecture: process.arch === 'arm64' ? 'arm64' : 'amd64',
        os: 'linux',
        config: { Entrypoint: [entrypoint], ...(opt('user') ? { User: opt('user') } : {}) },
        rootfs: { type: 'layers', diff_ids: [layer.digest] },
      }),
    ),
  );
  const manifest = blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
      }),
    ),
  );
  writeFileSync(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    path.join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': name },
        },
      ],
    }),
  );
  execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--mtime=@0', '-C', layout, '-cf', out, '.']);
} finally {
  rmSync(work, { recursive: true, force: true });
}
