import {
  PROTECTED_DATABASE_JSON_PATTERN,
  protectedCollectionReason,
  protectedDatabaseReason,
  protectedNamespaceProblem,
} from './protected-namespaces.js';

describe('protectedNamespaceProblem (SPEC I9)', () => {
  it.each(['admin', 'local', 'config', 'Admin', 'LOCAL', 'cOnFiG'])(
    'refuses the system database %j, naming the field and the three databases',
    (db) => {
      const m = protectedNamespaceProblem(db, 'events');
      expect(m).toBe(
        `database: ${JSON.stringify(db)} is a MongoDB system database; gochive never archives from, deletes from or restores into admin, local or config (name the application database that holds the documents)`,
      );
    },
  );

  it.each(['system.users', 'system.profile', 'system.buckets.metrics', 'system.views', 'system.'])(
    'refuses the system collection %j',
    (coll) => {
      expect(protectedNamespaceProblem('ALWAYZ', coll)).toMatch(
        new RegExp(
          `^collection: "${coll.replace(/\./g, '\\.')}" is a MongoDB system collection \\(system\\.\\*\\)`,
        ),
      );
    },
  );

  it('names the fields as the caller spells them', () => {
    expect(protectedNamespaceProblem('local', 'c', { database: '--to-database' })).toMatch(
      /^--to-database: "local" is a MongoDB system database/,
    );
    expect(protectedNamespaceProblem('app', 'system.js', { collection: '-collection' })).toMatch(
      /^-collection: "system\.js" is a MongoDB system collection/,
    );
    // The database is reported first when both are protected.
    expect(protectedNamespaceProblem('admin', 'system.users')).toMatch(/^database: "admin"/);
  });

  it.each([
    ['ALWAYZ', 'offerwall_event_log'],
    ['administration', 'events'],
    ['configs', 'events'],
    ['localdb', 'events'],
    ['app', 'systems'],
    ['app', 'my.system.events'],
    ['app', 'System.events'], // MongoDB reserves only the lowercase prefix
    ['app', undefined],
  ])('allows %j.%j', (db, coll) => {
    expect(protectedNamespaceProblem(db, coll)).toBeUndefined();
  });

  it('the chart schema pattern refuses exactly the databases the runtime refuses', () => {
    const re = new RegExp(PROTECTED_DATABASE_JSON_PATTERN);
    for (const db of ['admin', 'ADMIN', 'Local', 'config', 'admin2', 'xadmin', 'configs', 'app', 'loca'])
      expect({ db, refused: re.test(db) }).toEqual({
        db,
        refused: protectedDatabaseReason(db) !== undefined,
      });
  });

  it('ignores values that are not strings (type errors are reported elsewhere)', () => {
    expect(protectedDatabaseReason(undefined)).toBeUndefined();
    expect(protectedCollectionReason(42)).toBeUndefined();
  });
});
