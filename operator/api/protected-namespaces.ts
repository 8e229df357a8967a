// SPEC I9, protected namespaces: nothing is archived from, deleted from or restored into the `admin`,
// `local` or `config` databases or a `system.*` collection, whatever a spec, flag or manifest says.
// The one place the rule lives: the zod schema (and from it the CRD's CEL rules and the chart schema),
// the operator's runtime validation, `gochive archive` and `gochive restore` all call these.

/** MongoDB's own databases. Compared case-insensitively (MongoDB refuses a database differing only in case). */
export const PROTECTED_DATABASES = ['admin', 'local', 'config'] as const;

/** Collections MongoDB keeps for itself (system.users, system.profile, system.buckets.*, …). Case-sensitive, as in MongoDB. */
export const SYSTEM_COLLECTION_PREFIX = 'system.';

/** Why `database` may not be used, without the field name or value (callers add them), or undefined. */
export function protectedDatabaseReason(database: unknown): string | undefined {
  if (typeof database !== 'string') return undefined;
  if (!(PROTECTED_DATABASES as readonly string[]).includes(database.toLowerCase())) return undefined;
  return 'is a MongoDB system database; gochive never archives from, deletes from or restores into admin, local or config (name the application database that holds the documents)';
}

/** Why `collection` may not be used, without the field name or value (callers add them), or undefined. */
export function protectedCollectionReason(collection: unknown): string | undefined {
  if (typeof collection !== 'string' || !collection.startsWith(SYSTEM_COLLECTION_PREFIX)) return undefined;
  return 'is a MongoDB system collection (system.*); gochive never archives from, deletes from or restores into system collections (name an application collection)';
}

/**
 * Why a database/collection pair is protected (SPEC I9), as one plain message naming the field and the
 * fix, e.g. `database: "admin" is a MongoDB system database; gochive never …`; undefined when it may be
 * used. `fields` names the fields as the caller's user knows them (`spec.database`, `-database`,
 * `--to-database`…). An absent collection (undefined) is not checked.
 */
export function protectedNamespaceProblem(
  database: string,
  collection: string | undefined,
  fields: { database?: string; collection?: string } = {},
): string | undefined {
  const db = protectedDatabaseReason(database);
  if (db) return `${fields.database ?? 'database'}: ${JSON.stringify(database)} ${db}`;
  const coll = protectedCollectionReason(collection);
  if (coll) return `${fields.collection ?? 'collection'}: ${JSON.stringify(collection)} ${coll}`;
  return undefined;
}

// CEL for the CRD (Kubernetes CEL has the strings extension's lowerAscii). The messages have no value in
// them (kubectl prints the field path before them); they say the same as the reasons above.
export const CEL_DATABASE_NOT_PROTECTED = `!(self.lowerAscii() in [${PROTECTED_DATABASES.map((d) => `'${d}'`).join(', ')}])`;
export const CEL_DATABASE_NOT_PROTECTED_MESSAGE =
  'must not be admin, local or config: those are MongoDB system databases and gochive never archives from, deletes from or restores into them (name the application database that holds the documents)';
export const CEL_COLLECTION_NOT_SYSTEM = `!self.startsWith('${SYSTEM_COLLECTION_PREFIX}')`;
export const CEL_COLLECTION_NOT_SYSTEM_MESSAGE =
  'must not be a system collection (system.*): MongoDB keeps its own data there and gochive never archives from, deletes from or restores into it (name an application collection)';

/** Draft-07 (chart values.schema.json): the same database rule as a case-insensitive pattern under `not`. */
export const PROTECTED_DATABASE_JSON_PATTERN = `^(${PROTECTED_DATABASES.map((d) =>
  [...d].map((c) => `[${c.toUpperCase()}${c}]`).join(''),
).join('|')})$`;
