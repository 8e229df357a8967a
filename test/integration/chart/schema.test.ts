// Invalid values are refused by charts/gochive/values.schema.json (generated from the zod schema)
// before anything renders, and the message names the offending field's path.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { repoRoot } from '../../support/testenv.js';
import { baseValues, chartDir, helmTemplateRaw, runTool } from './helm.js';

const seedEntry = (
  parse(
    readFileSync(path.join(repoRoot, 'test/integration/chart/fixtures/original-values.yaml'), 'utf8'),
  ) as {
    policies: Array<Record<string, unknown>>;
  }
).policies[0]!;

/** The seed entry with `patch` applied at top level (undefined deletes a key). */
function entryWith(patch: Record<string, unknown>): Record<string, unknown> {
  const e: Record<string, unknown> = { ...structuredClone(seedEntry), ...patch };
  for (const [k, v] of Object.entries(patch)) if (v === undefined) delete e[k];
  return e;
}

const cases: Array<{ what: string; values: Record<string, unknown>; path: string; says: RegExp }> = [
  {
    what: 'a missing collection',
    values: { policies: [entryWith({ collection: undefined })] },
    path: "'/policies/0'",
    says: /missing property 'collection'/,
  },
  {
    what: 'an ageLimit that is not a duration',
    values: { policies: [entryWith({ ageLimit: '92x' })] },
    path: "'/policies/0/ageLimit'",
    says: /'92x' does not match pattern/,
  },
  {
    what: 'a queryLimit given as a string',
    values: { policies: [entryWith({ queryLimit: '2000' })] },
    path: "'/policies/0/queryLimit'",
    says: /got string, want integer/,
  },
  {
    what: 'a queryLimit of zero',
    values: { policies: [entryWith({ queryLimit: 0 })] },
    path: "'/policies/0/queryLimit'",
    says: /minimum/,
  },
  {
    what: 'a misspelt field (ageLimt)',
    values: { policies: [entryWith({ ageLimt: '3d' })] },
    path: "'/policies/0'",
    says: /additional properties 'ageLimt' not allowed/,
  },
  {
    what: 'an s3 block without bucket',
    values: { policies: [entryWith({ s3: { uploadInterval: 65 } })] },
    path: "'/policies/0/s3'",
    says: /missing property 'bucket'/,
  },
  {
    what: 'a policy name that is not a DNS label',
    values: { policies: [entryWith({ name: 'Offerwall_Log' })] },
    path: "'/policies/0/name'",
    says: /does not match pattern/,
  },
  {
    what: 'a policy without a name',
    values: { policies: [entryWith({ name: undefined })] },
    path: "'/policies/0'",
    says: /missing property 'name'/,
  },
  {
    what: 'an unknown storage class in the second policy',
    values: {
      policies: [
        seedEntry,
        entryWith({
          name: 'second',
          s3: { bucket: 'b-archive/x/', uploadInterval: 65, storageClass: 'COLD' },
        }),
      ],
    },
    path: "'/policies/1/s3/storageClass'",
    says: /must be one of|value must be one of/,
  },
  {
    what: 'an expireAfter that is not a duration',
    values: {
      policies: [entryWith({ s3: { bucket: 'b-archive/x/', uploadInterval: 65, expireAfter: 'forever' } })],
    },
    path: "'/policies/0/s3/expireAfter'",
    says: /'forever' does not match pattern/,
  },
  {
    what: 'an unknown operator log level',
    values: { operator: { logLevel: 'verbose' } },
    path: "'/operator/logLevel'",
    says: /value must be one of/,
  },
  {
    what: 'a negative replica count',
    values: { replicaCount: -1 },
    path: "'/replicaCount'",
    says: /minimum/,
  },
  {
    what: 'a URI template without {host}',
    values: { mongodb: { uriTemplate: 'mongodb://db.example.com/' } },
    path: "'/mongodb/uriTemplate'",
    says: /does not match pattern/,
  },
  // Misspelt chart keys: refused (they used to be ignored, leaving the default in force unnoticed).
  {
    what: 'a misspelt top-level key (replicaCont)',
    values: { replicaCont: 3 },
    path: "''",
    says: /additional properties 'replicaCont' not allowed/,
  },
  {
    what: 'a misspelt nested key (metrics.serviceMonitor.enable)',
    values: { metrics: { serviceMonitor: { enable: true } } },
    path: "'/metrics/serviceMonitor'",
    says: /additional properties 'enable' not allowed/,
  },
  {
    what: 'a misspelt key two levels down (mongodb.externalSecret.secretStoreRef.nmae)',
    values: { mongodb: { externalSecret: { secretStoreRef: { nmae: 'store' } } } },
    path: "'/mongodb/externalSecret/secretStoreRef'",
    says: /additional properties 'nmae' not allowed/,
  },
  {
    what: 'a misspelt podDisruptionBudget key',
    values: { podDisruptionBudget: { minAvailable: 1 } },
    path: "'/podDisruptionBudget'",
    says: /additional properties 'minAvailable' not allowed/,
  },
];

describe('chart: values.schema.json refuses invalid values, naming the field', () => {
  test.each(cases)('$what -> $path', async ({ values, path: at, says }) => {
    const r = await helmTemplateRaw({ ...baseValues, ...values });
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain("values don't meet the specifications of the schema");
    const line = r.stderr.split('\n').find((l) => l.includes(`at ${at}`) && says.test(l));
    if (!line) throw new Error(`expected a line naming ${at} matching ${says}, got:\n${r.stderr}`);
  });

  test('helm install refuses a misspelt key before creating anything (dry run, client side)', async () => {
    const r = await runTool('helm', ['install', 'typo', chartDir, '--dry-run=client', '-f', '-'], {
      input: JSON.stringify({ ...baseValues, replicaCont: 3 }),
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/at '': additional properties 'replicaCont' not allowed/);
  });

  test('helm lint fails on the same values, naming the field', async () => {
    const r = await runTool('helm', ['lint', chartDir, '--strict', '-f', '-'], {
      input: JSON.stringify({ ...baseValues, policies: [entryWith({ ageLimit: '92x' })] }),
    });
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain("at '/policies/0/ageLimit'");
  });

  test('the seed entry itself passes (the cases above fail for their own reason)', async () => {
    const r = await helmTemplateRaw({ ...baseValues, policies: [seedEntry] });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});
