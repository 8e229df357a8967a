import type { MongoClient } from 'mongodb';
import { MongoClientPool, newMongoClient } from './mongo-client.js';

/** A pool of real (never connected) clients whose close() calls are counted. */
function pool() {
  const closed = new Set<MongoClient>();
  const p = new MongoClientPool((uri) => {
    const c = newMongoClient(uri);
    const close = c.close.bind(c);
    c.close = async (force?: boolean) => {
      closed.add(c);
      await close(force);
    };
    return c;
  });
  return { p, closed };
}

const URI = 'mongodb://archiver:s3cret@db.example:27017/?authSource=admin';

describe('newMongoClient', () => {
  test('options written in the URI win over the defaults', () => {
    const c = newMongoClient(
      'mongodb://db.example/?maxPoolSize=50&appName=reports&serverSelectionTimeoutMS=500',
    );
    expect(c.options.maxPoolSize).toBe(50);
    expect(c.options.appName).toBe('reports');
    expect(c.options.serverSelectionTimeoutMS).toBe(500);
    const d = newMongoClient('mongodb://db.example/');
    expect(d.options.maxPoolSize).toBe(10);
    expect(d.options.appName).toBe('gochive');
    expect(d.options.serverSelectionTimeoutMS).toBe(15_000);
  });
});

describe('MongoClientPool', () => {
  test('policies with the same URI share one client; it closes when the last one releases it', async () => {
    const { p, closed } = pool();
    const a = p.acquire(URI);
    const b = p.acquire(URI);
    expect(b.client).toBe(a.client);
    expect(p.size).toBe(1);
    await a.release();
    await a.release(); // idempotent: must not drop b's reference
    expect(closed.has(a.client)).toBe(false);
    await b.release();
    expect(closed.has(a.client)).toBe(true);
    expect(p.size).toBe(0);
    const c = p.acquire(URI);
    expect(c.client).not.toBe(a.client);
    await c.release();
  });

  test('another address, user, password or URI option gets its own client', async () => {
    const { p } = pool();
    const base = p.acquire(URI);
    for (const other of [
      'mongodb://archiver:s3cret@db2.example:27017/?authSource=admin',
      'mongodb://reader:s3cret@db.example:27017/?authSource=admin',
      'mongodb://archiver:other@db.example:27017/?authSource=admin',
      'mongodb://archiver:s3cret@db.example:27017/?authSource=admin&readPreference=secondary',
      'mongodb://archiver:s3cret@db.example:27017/?authSource=admin&serverSelectionTimeoutMS=1000',
    ]) {
      const l = p.acquire(other);
      expect(l.client).not.toBe(base.client);
      await l.release();
    }
    await base.release();
  });

  test('discard: later users get a new client; the old one stays open until its last user leaves', async () => {
    const { p, closed } = pool();
    const a = p.acquire(URI);
    const b = p.acquire(URI);
    await a.discard();
    const c = p.acquire(URI);
    expect(c.client).not.toBe(b.client);
    expect(closed.has(b.client)).toBe(false);
    await b.release();
    expect(closed.has(b.client)).toBe(true);
    expect(closed.has(c.client)).toBe(false);
    await c.release();
    expect(closed.has(c.client)).toBe(true);
  });
});
