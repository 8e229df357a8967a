// Which MongoDB-compatible server the test environment runs: FerretDB 1.x on SQLite (the default), or
// FerretDB 2 over PostgreSQL with the DocumentDB extension, which uses its indexes for range queries,
// sorts and deletes. Chosen by GOCHIVE_MONGO (the Makefile passes MONGO=… through to it).
export const mongoServers = ['ferretdb', 'ferretdb2'] as const;
export type MongoServer = (typeof mongoServers)[number];

export const defaultMongoServer: MongoServer = 'ferretdb';

/** The server asked for, or undefined when none was (then a running environment is reused as it is). */
export function requestedMongoServer(env: NodeJS.ProcessEnv = process.env): MongoServer | undefined {
  const v = env.GOCHIVE_MONGO?.trim();
  if (!v) return undefined;
  if ((mongoServers as readonly string[]).includes(v)) return v as MongoServer;
  throw new Error(`GOCHIVE_MONGO (or make's MONGO=) is '${v}'; known: ${mongoServers.join(', ')}`);
}
