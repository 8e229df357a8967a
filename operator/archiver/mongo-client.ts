// The MongoDB client every part of the engine uses for a policy's connection (the worker, and the
// operator's journal sweep). Options written in the URI win over these defaults.
import { MongoClient } from 'mongodb';

export function newMongoClient(uri: string): MongoClient {
  return new MongoClient(uri, {
    appName: 'gochive',
    maxPoolSize: 4,
    ...(/[?&]serverSelectionTimeoutMS=/i.test(uri) ? {} : { serverSelectionTimeoutMS: 15_000 }),
  });
}
