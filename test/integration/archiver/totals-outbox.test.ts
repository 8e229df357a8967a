// Totals outbox (chaos finding 3): a kill -9 right after a bundle is verified in S3 used to lose that
// bundle from the totals — they lived only in the worker's memory. The journal now carries the counts
// not yet acknowledged, so the next run reports them; `gochive archive` acknowledges at exit (its
// statistics are the report), so a run after a clean exit starts from zero.
import { BSON } from 'mongodb';
import { testEnv } from '../../support/testenv.js';
import { cliEnv, runCli } from './cli.js';
import { DAY, insertAll, listKeys, sandbox, type Sandbox } from './helpers.js';

const N = 300;
const stat = (out: string, label: string): number => Number(new RegExp(`${label}\\s+(\\d+)`).exec(out)?.[1]);

describe('archiver: totals survive a kill -9 after upload', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await sandbox('arch_outbox');
  });
  afterAll(async () => {
    await sb?.cleanup();
  });

  test("the killed run's verified bundle is counted by the next run, once", async () => {
    await insertAll(
      sb.db,
      'events',
      Array.from({ length: N }, (_, i) => ({
        _id: new BSON.ObjectId(),
        createdAt: new Date(Date.now() - (100 + i / 100) * DAY),
        i,
      })),
    );
    await sb.db.collection('events').createIndex({ createdAt: 1 });
    const args = [
      'archive',
      '-host',
      testEnv().mongoUri,
      '-database',
      sb.dbName,
      '-collection',
      'events',
      '-age-limit',
      '92d',
      '-archive-field',
      'createdAt',
      '-query-limit',
      '100',
      '-archive-check-interval',
      '1',
      '-s3-upload-interval',
      '2',
      '-s3-bucket-uri',
      `${sb.bucket}/outbox/`,
      '--bundle-max-documents',
      '100',
      '--spool-dir',
      sb.spoolRoot,
      '--name',
      'outbox',
      '--once',
      '--statistics',
    ];
    const crashed = await runCli(args, cliEnv({ GOCHIVE_TEST_CRASH_AT: 'after-upload' }), 120_000);
    expect(crashed.signal).toBe('SIGKILL');

    const resumed = await runCli(args, cliEnv(), 120_000);
    expect({ code: resumed.code, stderr: resumed.code === 0 ? '' : resumed.stderr }).toEqual({
      code: 0,
      stderr: '',
    });
    expect(await sb.db.collection('events').countDocuments()).toBe(0);
    // The first bundle (uploaded by the killed run) is counted here, and nothing twice.
    expect(stat(resumed.stdout, 'ARCHIVED')).toBe(N);
    expect(stat(resumed.stdout, 'DELETED')).toBe(N);
    const objects = await listKeys(sb.s3, sb.bucket, 'outbox/');
    expect(/in (\d+) bundle/.exec(resumed.stdout)?.[1]).toBe(String(objects.length));

    // Acknowledged at the clean exit: a further run has nothing to carry.
    const again = await runCli(args, cliEnv(), 120_000);
    expect(again.code).toBe(0);
    expect(stat(again.stdout, 'ARCHIVED')).toBe(0);
    expect(stat(again.stdout, 'DELETED')).toBe(0);
  }, 400_000);
});
