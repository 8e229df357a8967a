import { protectedNamespaceProblem } from './protected-namespaces.js';

describe('protectedNamespaceProblem', () => {
  it.each([
    ['admin', 'system.users', /database 'admin'/],
    ['admin', 'events', /database 'admin'/],
    ['local', 'oplog.rs', /database 'local'/],
    ['config', 'chunks', /database 'config'/],
    ['shop', 'system.views', /collection 'system\.views'/],
    ['shop', 'system.js', /collection 'system\.js'/],
  ])('%s.%s is refused', (db, coll, message) => {
    expect(protectedNamespaceProblem(db, coll)).toMatch(message);
  });

  it.each([
    ['shop', 'events'],
    ['administration', 'users'],
    ['shop', 'system'],
    ['shop', 'systems.users'],
    ['shop', 'events.system.x'],
  ])('%s.%s is allowed', (db, coll) => {
    expect(protectedNamespaceProblem(db, coll)).toBeUndefined();
  });
});
