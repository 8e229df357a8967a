// `helm lint --strict` is clean for the default values and for real-world values files, and the CRD
// shipped in the chart is byte-for-byte the generated one (run `npm run generate` to refresh it).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../support/testenv.js';
import { baseValues, chartDir, runTool } from './helm.js';

const fixtures = path.join(repoRoot, 'test/integration/chart/fixtures');

async function lint(args: string[], input?: string): Promise<string> {
  const r = await runTool(
    'helm',
    ['lint', chartDir, '--strict', ...args],
    input === undefined ? {} : { input },
  );
  const out = r.stdout + r.stderr;
  expect({ code: r.code, out }).toEqual({
    code: 0,
    out: expect.stringContaining('1 chart(s) linted, 0 chart(s) failed'),
  });
  // Only the INFO about a missing icon is tolerated; no warnings or errors of any kind.
  expect(out.split('\n').filter((l) => /^\[(WARNING|ERROR)\]/.test(l))).toEqual([]);
  return out;
}

describe('chart: helm lint', () => {
  test('clean with the default values', async () => {
    await lint([]);
  });

  test('clean with the original entries and with the extensions', async () => {
    await lint(['-f', path.join(fixtures, 'original-values.yaml'), '-f', '-'], JSON.stringify(baseValues));
    await lint(['-f', path.join(fixtures, 'extended-values.yaml'), '-f', '-'], JSON.stringify(baseValues));
  });

  test('clean with every optional object switched on', async () => {
    await lint(
      ['-f', '-'],
      JSON.stringify({
        mongodb: {
          uriTemplate: baseValues.mongodb.uriTemplate,
          externalSecret: { enabled: true, secretStoreRef: { name: 'store' }, remoteKey: 'prod/mongodb' },
        },
        operator: { watchNamespaces: ['team-a'] },
        metrics: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true } },
      }),
    );
  });
});

describe('chart: CRD copy', () => {
  test('charts/gochive/crds/ holds exactly the generated crds/archivepolicies.gochive.io.yaml', () => {
    const generated = readFileSync(path.join(repoRoot, 'crds', 'archivepolicies.gochive.io.yaml'));
    const copy = readFileSync(path.join(chartDir, 'crds', 'archivepolicies.gochive.io.yaml'));
    if (!generated.equals(copy)) {
      throw new Error(
        'charts/gochive/crds/archivepolicies.gochive.io.yaml differs from crds/archivepolicies.gochive.io.yaml: run `npm run generate`',
      );
    }
  });
});

describe('chart: reference tables in docs/chart-values.md', () => {
  test('are current with values.yaml and values.schema.json (npm run generate refreshes them)', () => {
    const r = spawnSync(process.execPath, [path.join(chartDir, 'hack', 'values-table.mjs'), '--check'], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  });
});
