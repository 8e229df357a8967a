// SPEC I9: nothing is archived from, deleted from, or restored into MongoDB's own databases (admin,
// local, config) or system collections (system.*), whatever a spec, flag or manifest says.

const PROTECTED_DATABASES = new Set(['admin', 'local', 'config']);

/** Why `database.collection` must not be touched, or undefined when it may be. */
export function protectedNamespaceProblem(database: string, collection: string): string | undefined {
  if (PROTECTED_DATABASES.has(database))
    return `database '${database}' is one of MongoDB's own (admin, local, config), which gochive never touches`;
  if (collection.startsWith('system.'))
    return `collection '${collection}' is a system collection (system.*), which gochive never touches`;
  return undefined;
}
