// Bad-input corpus, part 3: malformed and hostile command lines for the built `gochive archive`. Each
// one exits 2 (usage error) with a message on stderr naming the flag, prints nothing on stdout, never
// echoes the password given with it, and never opens a connection: -host points at a listener that
// counts connections, and it must count zero for every case.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ConnectionCounter, assertBuilt, gochive, scratchDir } from './harness.js';
import { forbiddenForms } from '../security/leaks.js';

const PASSWORD = `Hunter2-${randomBytes(4).toString('hex')}-p@ss:w/rd`;

let db: ConnectionCounter;
let scratch: { dir: string; remove(): void };

beforeAll(async () => {
  assertBuilt('cli/archive', 'cli/flags');
  db = await new ConnectionCounter('close').start();
  scratch = scratchDir('bi-cli');
});

afterAll(async () => {
  await db?.stop();
  scratch?.remove();
});

/** The seed README's command line (SPEC §2), against the counting listener, as flag → value. */
function seedFlags(): Record<string, string | undefined> {
  return {
    host: `mongodb://127.0.0.1:${db.port}/?serverSelectionTimeoutMS=1000`,
    user: 'archiver',
    password: PASSWORD,
    database: 'ALWAYZ',
    collection: 'offerwall_event_log',
    'age-limit': '92d',
    'archive-field': 'createdAt',
    'query-limit': '2000',
    'archive-check-interval': '9',
    's3-upload-interval': '65',
    's3-bucket-uri': 'levit-database-archive-prod/incubator/offerwall_event_log/',
  };
}

/** argv from the seed flags with `change` applied (undefined removes a flag), plus `extra` raw arguments. */
function argv(change: Record<string, string | undefined> = {}, extra: string[] = []): string[] {
  const f = { ...seedFlags(), ...change };
  const out: string[] = ['archive'];
  for (const [k, v] of Object.entries(f)) if (v !== undefined) out.push(`-${k}`, v);
  return [...out, '--once', ...extra];
}

interface Case {
  what: string;
  args: () => string[];
  /** The flag the message must name (as written in the message). */
  flag: string;
  says?: RegExp;
}

const cases: Case[] = [
  // ---- durations
  {
    what: 'an age limit with an unknown unit',
    args: () => argv({ 'age-limit': '92x' }),
    flag: '-age-limit',
    says: /is not a duration/,
  },
  {
    what: 'a zero age limit',
    args: () => argv({ 'age-limit': '0d' }),
    flag: '-age-limit',
    says: /greater than zero/,
  },
  {
    what: 'a negative age limit',
    args: () => argv({ 'age-limit': '-5d' }),
    flag: '-age-limit',
    says: /is not a duration/,
  },
  {
    what: 'an age limit beyond 100 years',
    args: () => argv({ 'age-limit': '9999999999d' }),
    flag: '-age-limit',
    says: /100 years/,
  },
  {
    what: 'a fractional age limit',
    args: () => argv({ 'age-limit': '1.5d' }),
    flag: '-age-limit',
    says: /is not a duration/,
  },
  {
    what: 'a check interval that is a word',
    args: () => argv({ 'archive-check-interval': 'often' }),
    flag: '-archive-check-interval',
    says: /is not a duration/,
  },
  {
    what: 'upload interval equal to check interval',
    args: () => argv({ 's3-upload-interval': '9' }),
    flag: '-s3-upload-interval',
    says: /greater than -archive-check-interval/,
  },
  {
    what: 'upload interval 1m below check interval 90s',
    args: () => argv({ 'archive-check-interval': '90s', 's3-upload-interval': '1m' }),
    flag: '-s3-upload-interval',
    says: /greater than -archive-check-interval/,
  },
  // ---- missing required flags
  { what: 'no -host', args: () => argv({ host: undefined }), flag: '-host', says: /required/ },
  { what: 'no -database', args: () => argv({ database: undefined }), flag: '-database', says: /required/ },
  {
    what: 'no -collection',
    args: () => argv({ collection: undefined }),
    flag: '-collection',
    says: /required/,
  },
  {
    what: 'no -archive-field',
    args: () => argv({ 'archive-field': undefined }),
    flag: '-archive-field',
    says: /required/,
  },
  {
    what: 'no -s3-bucket-uri',
    args: () => argv({ 's3-bucket-uri': undefined }),
    flag: '-s3-bucket-uri',
    says: /required/,
  },
  {
    what: 'a flag without its value at the end',
    args: () => [...argv(), '-database'],
    flag: '-database',
    says: /needs an argument/,
  },
  // ---- unknown flags and stray arguments
  {
    what: 'an unknown flag',
    args: () => argv({}, ['-delete-everything']),
    flag: '-delete-everything',
    says: /not defined/,
  },
  {
    what: 'a misspelt flag (--age-limt)',
    args: () => argv({}, ['--age-limt', '3d']),
    flag: '-age-limt',
    says: /not defined/,
  },
  {
    what: 'a stray positional argument',
    args: () => ['archive', '-database', 'd', 'rm -rf /', '-collection', 'c'],
    flag: '"rm -rf /"',
    says: /unexpected argument/,
  },
  {
    what: 'a boolean flag with a non-boolean value',
    args: () => argv({}, ['-dry-run=maybe']),
    flag: '-dry-run',
    says: /invalid boolean value/,
  },
  // ---- query limit
  {
    what: 'a non-numeric query limit',
    args: () => argv({ 'query-limit': 'lots' }),
    flag: '-query-limit',
    says: /whole number/,
  },
  {
    what: 'a query limit in exponent form',
    args: () => argv({ 'query-limit': '1e3' }),
    flag: '-query-limit',
    says: /whole number/,
  },
  {
    what: 'a zero query limit',
    args: () => argv({ 'query-limit': '0' }),
    flag: '-query-limit',
    says: /at least 1/,
  },
  {
    what: 'a query limit over 100000',
    args: () => argv({ 'query-limit': '1000001' }),
    flag: '-query-limit',
    says: /at most 100000/,
  },
  // ---- bucket URIs
  {
    what: 'a bucket with uppercase and "_"',
    args: () => argv({ 's3-bucket-uri': 'Levit_Archive/x/' }),
    flag: '-s3-bucket-uri',
  },
  {
    what: 'a bucket URI with credentials',
    args: () => argv({ 's3-bucket-uri': 's3://AKIA:secret@levit-archive/x/' }),
    flag: '-s3-bucket-uri',
  },
  {
    what: 'a bucket URI with an http scheme',
    args: () => argv({ 's3-bucket-uri': 'https://evil.example.com/x/' }),
    flag: '-s3-bucket-uri',
  },
  {
    what: 'a file:// destination escaping with ..',
    args: () => argv({ 's3-bucket-uri': 'file:///var/archive/../../etc' }),
    flag: '-s3-bucket-uri',
    says: /\.\./,
  },
  {
    what: 'a bucket URI with an empty segment',
    args: () => argv({ 's3-bucket-uri': 'levit-archive//x/' }),
    flag: '-s3-bucket-uri',
  },
  // ---- names and injection
  {
    what: 'a system collection',
    args: () => argv({ collection: 'system.users' }),
    flag: '-collection',
    says: /system collection/,
  },
  {
    what: 'a throttle latency of 0 ms',
    args: () => argv({ 'max-query-latency-ms': '0' }),
    flag: '-max-query-latency-ms',
    says: /must be at least 1 millisecond/,
  },
  {
    what: 'a replication lag limit in milliseconds',
    args: () => argv({ 'max-lag': '500ms' }),
    flag: '-max-lag',
    says: /"500ms" is not a duration/,
  },
  {
    what: 'a throttle check interval without a limit',
    args: () => argv({ 'throttle-check-interval': '5s' }),
    flag: '-throttle-check-interval',
    says: /set -max-lag, -max-query-latency-ms or both/,
  },
  // SPEC I9: MongoDB's own databases are never archived from, whatever the flags say.
  {
    what: 'the admin database',
    args: () => argv({ database: 'admin' }),
    flag: '-database',
    says: /-database: "admin" is a MongoDB system database; gochive never archives from, deletes from or restores into admin, local or config/,
  },
  {
    what: 'the local database',
    args: () => argv({ database: 'local' }),
    flag: '-database',
    says: /"local" is a MongoDB system database/,
  },
  {
    what: 'the config database',
    args: () => argv({ database: 'config' }),
    flag: '-database',
    says: /"config" is a MongoDB system database/,
  },
  {
    what: 'the admin database with a file:// destination (file:// itself is fine here)',
    args: () => argv({ database: 'admin', 's3-bucket-uri': 'file:///var/lib/gochive/archive' }),
    flag: '-database',
    says: /^gochive archive: -database: "admin" is a MongoDB system database[^\n]*\nRun 'gochive archive -help'/,
  },
  {
    what: 'a database with a path traversal',
    args: () => argv({ database: 'ALWAYZ/../admin' }),
    flag: '-database',
  },
  {
    what: 'an archive field "$where"',
    args: () => argv({ 'archive-field': '$where' }),
    flag: '-archive-field',
  },
  {
    what: 'a filter that is not JSON',
    args: () => argv({}, ['-filter', "{status: 'done'"]),
    flag: '-filter',
    says: /not valid JSON/,
  },
  {
    what: 'a filter with $where nested deep',
    args: () => argv({}, ['-filter', '{"a":{"$or":[{"b":1},{"c":{"$elemMatch":{"$where":"sleep(1e9)"}}}]}}']),
    flag: '-filter',
    says: /\$where/,
  },
  {
    what: 'a filter with $function in $expr',
    args: () => argv({}, ['-filter', '{"$expr":{"$function":{"body":"return 1","args":[],"lang":"js"}}}']),
    flag: '-filter',
    says: /\$function/,
  },
  {
    what: 'a filter with $accumulator',
    args: () => argv({}, ['-filter', '{"$expr":{"$gt":[{"$accumulator":{}},0]}}']),
    flag: '-filter',
    says: /\$accumulator/,
  },
  {
    what: 'an unknown archive field format',
    args: () => argv({}, ['-archive-field-format', 'iso8601']),
    flag: '-archive-field-format',
  },
  {
    what: 'compression level 12',
    args: () => argv({}, ['-compression-level', '12']),
    flag: '-compression-level',
  },
  {
    what: 'an S3 endpoint with credentials in it',
    args: () => argv({}, ['-s3-endpoint', 'https://AKIA:secret@minio.example.com:9000']),
    flag: '-s3-endpoint',
  },
  // ---- -host
  {
    what: 'a -host with an http scheme',
    args: () => argv({ host: `http://127.0.0.1:${db.port}/` }),
    flag: '-host',
    says: /scheme/,
  },
  {
    what: 'a -host whose password has an unescaped "@"',
    args: () =>
      argv({
        host: `mongodb://admin:${PASSWORD.replace(/[:/]/g, '')}@127.0.0.1:${db.port}/`,
        user: undefined,
        password: undefined,
      }),
    flag: '-host',
  },
  {
    what: 'a -host with an invalid option value',
    args: () => argv({ host: `mongodb://127.0.0.1:${db.port}/?tls=maybe` }),
    flag: '-host',
    says: /tls/,
  },
];

describe('gochive archive: malformed and hostile flags exit 2 naming the flag, before any connection', () => {
  test.each(cases.map((c) => [c.what, c] as const))('%s', async (_what, c) => {
    const r = await gochive(c.args(), { timeoutMs: 30_000 });
    expect({ code: r.code, timedOut: r.timedOut }).toEqual({ code: 2, timedOut: false });
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(c.flag);
    if (c.says) expect(r.stderr).toMatch(c.says);
    // The password given on the same command line is never echoed, in any form.
    for (const f of [...forbiddenForms(PASSWORD), PASSWORD.replace(/[:/]/g, '')])
      expect(r.stderr).not.toContain(f);
    expect(db.connections).toBe(0);
  });

  const files: [string, string, RegExp][] = [
    ['a file that does not exist', '/nonexistent/gochive/policies.yaml', /cannot read the file/],
    [
      'an ArchivePolicy manifest with $where deep in its filter',
      'apiVersion: gochive.io/v1alpha1\nkind: ArchivePolicy\nmetadata: {name: p1}\nspec:\n  hostAddress: x\n  ageLimit: 92d\n  archiveCheckInterval: 9\n  collection: c\n  database: d\n  archiveField: createdAt\n  filter: {a: {$or: [{b: {$where: "1"}}]}}\n  s3: {bucket: bkt-x/p/, uploadInterval: 65}\n',
      /spec\.filter: uses a\.\$or\[0\]\.b\.\$where/,
    ],
    [
      'a values entry with an invalid name and missing fields',
      'policies:\n  - name: BAD NAME\n    hostAddress: x\n',
      /name: "BAD NAME"[\s\S]*ageLimit: is required/,
    ],
    ['a file that is not YAML', '{{{ :::', /\S/],
  ];
  test.each(files)('-f with %s exits 2 naming the file and the field', async (_what, content, says) => {
    let file = content;
    if (!content.startsWith('/')) {
      file = path.join(scratch.dir, `p-${Math.random().toString(36).slice(2)}.yaml`);
      writeFileSync(file, content);
    }
    const r = await gochive(
      ['archive', '-f', file, '-host', `mongodb://127.0.0.1:${db.port}/`, '-password', PASSWORD, '--once'],
      { timeoutMs: 30_000 },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(file);
    expect(r.stderr).toMatch(says);
    for (const f of forbiddenForms(PASSWORD)) expect(r.stderr).not.toContain(f);
    expect(db.connections).toBe(0);
  });
});
