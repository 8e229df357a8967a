// The image, CI and package.json must name the same Node.js: the suites are only evidence for the
// runtime the image ships if CI runs that release, and `engines` must admit it (and nothing untested).
import { readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname ?? '.', '../..');
const read = (f: string): string => readFileSync(path.join(root, f), 'utf8');

const dockerNode = /^ARG NODE_IMAGE=node:(\d+\.\d+\.\d+)-[a-z]+-slim@sha256:([0-9a-f]{64})$/m;
const ciNode = /^NODE_VERSION="(\d+\.\d+\.\d+)"$/m;

describe('Node.js runtime', () => {
  it('the Dockerfile pins an exact Node.js release by digest', () => {
    const m = dockerNode.exec(read('Dockerfile'));
    expect(m).not.toBeNull();
  });

  it('.ci/run tests under the release the image ships', () => {
    const image = dockerNode.exec(read('Dockerfile'))?.[1];
    const ci = ciNode.exec(read('.ci/run'))?.[1];
    expect(ci).toBeDefined();
    expect(ci).toBe(image);
  });

  it('engines admits the tested release and only its major (an LTS line)', () => {
    const ci = ciNode.exec(read('.ci/run'))?.[1] ?? '';
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
    const m = /^\^(\d+)\.(\d+)\.(\d+)$/.exec(engines);
    expect(m).not.toBeNull();
    const [major, minor, patch] = ci.split('.').map(Number);
    const [eMajor, eMinor, ePatch] = m!.slice(1).map(Number);
    expect(major).toBe(eMajor);
    expect(major! % 2).toBe(0); // even majors are the LTS lines
    expect(minor! * 1e6 + patch!).toBeGreaterThanOrEqual(eMinor! * 1e6 + ePatch!);
  });

  it('the lockfile records the same engines as package.json', () => {
    const pkg = JSON.parse(read('package.json')) as { engines: unknown };
    const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { engines?: unknown }> };
    expect(lock.packages['']?.engines).toEqual(pkg.engines);
  });
});
