import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { repoRootFrom } from './generate.js';
import { archivePolicyCrd, archivePolicyCrdYaml } from './crd.js';
import { chartValuesJsonSchema } from './chart-values.js';
import { validateSpec } from './resolve.js';

// Schema nodes are walked generically; their shape is what the test checks.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Node = Record<string, any>;

/** Every schema node, with its path. */
function* walk(node: Node, path = '$'): Generator<[string, Node]> {
  yield [path, node];
  for (const [k, v] of Object.entries(node.properties ?? {})) yield* walk(v as Node, `${path}.${k}`);
  if (node.items) yield* walk(node.items, `${path}[]`);
  if (node.additionalProperties && typeof node.additionalProperties === 'object')
    yield* walk(node.additionalProperties, `${path}{}`);
}

describe('ArchivePolicy CRD', () => {
  const crd = archivePolicyCrd() as Node;
  const version = crd.spec.versions[0];
  const schema = version.schema.openAPIV3Schema as Node;

  it('has the names, scope and subresources the product promises', () => {
    expect(crd.metadata.name).toBe('archivepolicies.gochive.io');
    expect(crd.spec).toMatchObject({
      group: 'gochive.io',
      scope: 'Namespaced',
      names: {
        kind: 'ArchivePolicy',
        plural: 'archivepolicies',
        singular: 'archivepolicy',
        shortNames: ['ap'],
        categories: ['gochive'],
      },
    });
    expect(version).toMatchObject({
      name: 'v1alpha1',
      served: true,
      storage: true,
      subresources: { status: {} },
    });
  });

  it('prints Phase, Ready, Archived, Backlog, Last Upload and Age by default, more with -o wide', () => {
    const cols = version.additionalPrinterColumns as Node[];
    expect(cols.filter((c) => !c.priority).map((c) => c.name)).toEqual([
      'Phase',
      'Ready',
      'Archived',
      'Backlog',
      'Last Upload',
      'Age',
    ]);
    expect(cols.find((c) => c.name === 'Ready')!.jsonPath).toBe(
      '.status.conditions[?(@.type=="Ready")].status',
    );
    expect(cols.filter((c) => c.priority === 1).map((c) => c.name)).toEqual(
      expect.arrayContaining(['Database', 'Collection', 'Deleted', 'Last Error']),
    );
  });

  it('is structural: every node typed (or int-or-string / preserve-unknown), no JSON-Schema-only keywords', () => {
    for (const [path, node] of walk(schema)) {
      for (const k of [
        '$schema',
        '$ref',
        'anyOf',
        'oneOf',
        'allOf',
        'not',
        'definitions',
        'propertyNames',
        'const',
        'if',
        'then',
      ]) {
        if (k in node) throw new Error(`${path} has ${k}`);
      }
      if (path === '$.metadata') continue;
      if (!node.type && !node['x-kubernetes-int-or-string'] && !node['x-kubernetes-preserve-unknown-fields'])
        throw new Error(`${path} has no type`);
      if (!node.description && path !== '$.metadata' && !path.endsWith('[]'))
        throw new Error(`${path} has no description`);
    }
  });

  it('bounds every string and list reached by a CEL rule (the API server estimates rule cost)', () => {
    for (const [path, node] of walk(schema)) {
      if (
        node.type === 'string' &&
        path.startsWith('$.spec') &&
        !node.enum &&
        node.maxLength === undefined &&
        !node.pattern
      ) {
        // Unbounded strings are fine only when no rule looks at them; flag them so a new rule does not blow the budget.
        expect([path, node.maxLength]).toEqual([path, expect.any(Number)]);
      }
      if (node.type === 'array' && path.startsWith('$.spec'))
        expect([path, node.maxItems]).toEqual([path, expect.any(Number)]);
    }
  });

  it('carries the cross-field CEL rules', () => {
    const rules = (schema.properties.spec['x-kubernetes-validations'] as Node[]).map((r) => r.message);
    expect(rules).toEqual(
      expect.arrayContaining([
        expect.stringContaining('s3.uploadInterval must be greater than archiveCheckInterval'),
        expect.stringContaining('only one of hostAddress and uriSecretRef'),
        expect.stringContaining('one of hostAddress'),
      ]),
    );
    const ageLimit = schema.properties.spec.properties.ageLimit as Node;
    expect(ageLimit['x-kubernetes-int-or-string']).toBe(true);
    expect(ageLimit.pattern).toBeUndefined(); // replaced by a CEL rule with a readable message
    expect(schema.properties.spec.properties.filter['x-kubernetes-preserve-unknown-fields']).toBe(true);
  });

  // kube-apiserver prints an OpenAPI `pattern` failure as the bare regex ("should match '^[^$\x00]…'");
  // a CEL rule prints its message. So no spec field may keep a bare pattern.
  it('checks no spec field with a bare pattern: each is a CEL rule with a plain message', () => {
    const bare = [...walk(schema.properties.spec, '$.spec')].filter(([, n]) => n.pattern).map(([p]) => p);
    expect(bare).toEqual([]);
  });

  // [field, a value its pattern refuses]: the API server and the CLI (validateSpec) say the same words.
  const patterned: [string, string][] = [
    ['collection', 'log$where'],
    ['database', 'ALWAYZ/../admin'],
    ['archiveField', 'meta.$gt'],
    ['hostAddress', 'mongodb://root:hunter2@db:27017'],
  ];
  it.each(patterned)('%s: the CEL rule carries the message the CLI prints', (field, bad) => {
    const node = schema.properties.spec.properties[field] as Node;
    expect(node.pattern).toBeUndefined();
    const rules = (node['x-kubernetes-validations'] ?? []) as Node[];
    const rule = rules.find((r) => String(r.rule).startsWith('self.matches('));
    expect(rule).toBeDefined();
    const v = validateSpec({
      hostAddress: 'incubator',
      ageLimit: '92d',
      archiveCheckInterval: 9,
      collection: 'c',
      database: 'd',
      archiveField: 'createdAt',
      s3: { bucket: 'levit-archive/x/', uploadInterval: 65 },
      [field]: bad,
    });
    expect(v.ok).toBe(false);
    const cli = !v.ok ? v.errors.find((e) => e.path === field)?.message : undefined;
    expect(cli).toContain(rule!.message);
    expect(rule!.message).not.toMatch(/\^|\$$|\\x00/); // words, not a regex
    // The chart schema keeps the pattern (helm checks it) and carries the words for editors.
    const entry = chartValuesJsonSchema().definitions as Node;
    expect(entry.policy.properties[field].patternErrorMessage).toBe(rule!.message);
  });

  it('refuses system databases and collections and file:// with CEL rules that say why', () => {
    const p = schema.properties.spec.properties as Node;
    const rulesOf = (n: Node) =>
      (n['x-kubernetes-validations'] as Node[]).map((r) => `${r.rule} => ${r.message}`);
    expect(rulesOf(p.database)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /lowerAscii\(\) in \['admin', 'local', 'config'\].* => must not be admin, local or config: those are MongoDB system databases/,
        ),
      ]),
    );
    expect(rulesOf(p.collection)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/startsWith\('system\.'\).* => must not be a system collection \(system\.\*\)/),
      ]),
    );
    expect(rulesOf(p.s3.properties.bucket)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /startsWith\('file:'\).* => file:\/\/ is not allowed in an ArchivePolicy: .*not durable.*use an S3 bucket/,
        ),
      ]),
    );
  });

  it('has defaults that keep the original behaviour', () => {
    const p = schema.properties.spec.properties as Node;
    expect(p.queryLimit.default).toBe(1000);
    expect(p.archiveFieldFormat.default).toBe('date');
    expect(p.allowCollectionScan.default).toBe(false);
    expect(p.compression.properties.level.default).toBe(6);
    expect(schema.properties.spec.required).toEqual([
      'ageLimit',
      'archiveCheckInterval',
      'collection',
      'database',
      'archiveField',
      's3',
    ]);
  });

  it('renders YAML that parses back to the same object', () => {
    expect(parse(archivePolicyCrdYaml())).toEqual(crd);
  });
});

describe('chart values.schema.json', () => {
  const schema = chartValuesJsonSchema() as Node;
  it('is draft-07 with strict policy entries that accept the original entry shape', () => {
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(schema.properties.policies.items).toEqual({ $ref: '#/definitions/policy' });
    const entry = schema.definitions.policy as Node;
    expect(entry.additionalProperties).toBe(false);
    expect(entry.required).toEqual([
      'name',
      'ageLimit',
      'archiveCheckInterval',
      'collection',
      'database',
      'archiveField',
      's3',
    ]);
    expect(Object.keys(entry.properties)).toEqual(
      expect.arrayContaining([
        'name',
        'hostAddress',
        'ageLimit',
        'queryLimit',
        'archiveCheckInterval',
        'collection',
        'database',
        'archiveField',
        's3',
      ]),
    );
    expect(entry.oneOf).toEqual([{ required: ['hostAddress'] }, { required: ['uriSecretRef'] }]);
    expect(JSON.stringify(schema)).not.toMatch(/x-kubernetes|x-gochive/);
  });
  it('declares every key of values.yaml and refuses unknown keys in every block', () => {
    const values = parse(
      readFileSync(path.join(repoRootFrom(import.meta.url), 'charts/gochive/values.yaml'), 'utf8'),
    ) as Node;
    const undeclared: string[] = [];
    const open: string[] = [];
    const visit = (v: unknown, node: Node | undefined, at: string): void => {
      if (!node) return void undeclared.push(at);
      if (v === null || typeof v !== 'object' || Array.isArray(v)) return;
      if (node.type !== 'object') return;
      if (node.properties) {
        // A block of chart settings: closed, and every key in values.yaml declared.
        if (node.additionalProperties !== false) open.push(at);
        for (const [k, child] of Object.entries(v)) visit(child, node.properties[k], `${at}.${k}`);
      }
    };
    visit(values, schema, '$');
    expect(undeclared).toEqual([]);
    expect(open).toEqual([]);
  });

  it('refuses system databases and file:// destinations in policy entries', () => {
    const p = (schema.definitions.policy as Node).properties as Node;
    const refused = (n: Node, v: string) => new RegExp((n.not as Node).pattern as string).test(v);
    for (const db of ['admin', 'local', 'config', 'Admin']) expect(refused(p.database, db)).toBe(true);
    expect(refused(p.database, 'ALWAYZ')).toBe(false);
    expect(refused(p.s3.properties.bucket, 'file:///var/archive')).toBe(true);
    expect(refused(p.s3.properties.bucket, 's3://bucket/prefix/')).toBe(false);
  });
  it('types the chart-level keys the chart uses', () => {
    for (const k of [
      'image',
      'replicaCount',
      'mongodb',
      'resources',
      'spool',
      'metrics',
      'serviceAccount',
      'operator',
      'podSecurityContext',
      'securityContext',
      'nodeSelector',
      'tolerations',
      'affinity',
    ]) {
      expect(schema.properties).toHaveProperty(k);
    }
  });
});
