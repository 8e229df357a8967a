// Replication lag from recorded replSetGetStatus / replSetGetConfig replies (test/fixtures/replset):
// the test environment's FerretDB has no replica set, so this is the only place the lag computation
// meets replica-set replies.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { BSON, MongoServerError, type Db, type Document } from 'mongodb';
import { repoRootFrom } from '../api/generate.js';
import { createLogger } from '../util/logger.js';
import { replicationLag, ReplicationLagProbe } from './throttle-lag.js';

const dir = path.join(repoRootFrom(import.meta.url), 'test/fixtures/replset');
const reply = (name: string): Document =>
  BSON.EJSON.parse(readFileSync(path.join(dir, name), 'utf8'), { relaxed: true }) as Document;
const status = (name: string) => reply(`${name}.status.json`);
const config = (name: string) => reply(`${name}.config.json`).config as Document;

describe('replicationLag', () => {
  it('is the primary optime minus the slowest healthy secondary', () => {
    expect(replicationLag(status('healthy-three-members'))).toEqual({
      kind: 'lag',
      seconds: 7,
      member: 'db-2.example.net:27017',
      primary: 'db-0.example.net:27017',
      ignored: [],
    });
  });

  it('leaves out arbiters and unreachable members (their optime is empty or the epoch)', () => {
    const r = replicationLag(status('arbiter-and-unreachable'));
    expect(r).toMatchObject({ kind: 'lag', seconds: 3, member: 'db-1.example.net:27017' });
    expect(r.kind === 'lag' && r.ignored).toEqual([
      'arb-0.example.net:27017 (arbiter)',
      'db-3.example.net:27017 (unreachable)',
    ]);
  });

  it('counts hidden members and leaves out delayed ones (secondaryDelaySecs, or slaveDelay before 5.0)', () => {
    for (const cfg of ['hidden-and-delayed', 'hidden-and-delayed-slavedelay']) {
      const r = replicationLag(status('hidden-and-delayed'), config(cfg));
      expect(r).toMatchObject({ kind: 'lag', seconds: 12, member: 'hidden-0.example.net:27017' });
      expect(r.kind === 'lag' && r.ignored).toEqual([
        'delayed-0.example.net:27017 (delayed 3600s by design)',
      ]);
    }
  });

  it('without the config (replSetGetConfig refused) a delayed member counts: the lag is an overestimate', () => {
    expect(replicationLag(status('hidden-and-delayed'))).toMatchObject({
      kind: 'lag',
      seconds: 3600,
      member: 'delayed-0.example.net:27017',
    });
  });

  it('leaves out members that are not SECONDARY yet (RECOVERING, STARTUP2)', () => {
    const r = replicationLag(status('recovering-and-startup2'));
    expect(r).toMatchObject({ kind: 'lag', seconds: 0.5, member: 'db-1.example.net:27017' });
    expect(r.kind === 'lag' && r.ignored).toEqual([
      'db-2.example.net:27017 (RECOVERING)',
      'db-3.example.net:27017 (STARTUP2)',
    ]);
  });

  it('gives no reading during an election (no primary)', () => {
    expect(replicationLag(status('no-primary'))).toEqual({
      kind: 'none',
      why: 'no reachable primary (an election in progress?)',
    });
  });

  it('gives no reading when no secondary is healthy', () => {
    const r = replicationLag(status('secondaries-down'));
    expect(r.kind).toBe('none');
    expect(r.kind === 'none' && r.why).toMatch(/^no healthy secondary to compare with .*db-1.*unreachable/);
  });

  it('accepts the answering member without a health field (older servers)', () => {
    expect(replicationLag(status('self-without-health'))).toMatchObject({ kind: 'lag', seconds: 7 });
  });
});

/** An admin Db that answers from recorded replies and counts the commands it is sent. */
function fakeAdmin(answers: Record<string, Document | Error>): { db: Db; sent: string[] } {
  const sent: string[] = [];
  const db = {
    command: async (cmd: Document) => {
      const name = Object.keys(cmd)[0]!;
      sent.push(name);
      const a = answers[name];
      if (a instanceof Error) throw a;
      if (!a) throw new MongoServerError({ message: `no such command: '${name}'`, code: 59, ok: 0 });
      return a;
    },
  } as unknown as Db;
  return { db, sent };
}

const HELLO_RS = { isWritablePrimary: true, setName: 'rs0', ok: 1 };

describe('ReplicationLagProbe', () => {
  const log = createLogger({ level: 'silent' });

  it('reads status and config from a replica set member', async () => {
    const { db, sent } = fakeAdmin({
      hello: HELLO_RS,
      replSetGetStatus: status('hidden-and-delayed'),
      replSetGetConfig: reply('hidden-and-delayed.config.json'),
    });
    const r = await new ReplicationLagProbe(log).read(db);
    expect(r).toMatchObject({ kind: 'lag', seconds: 12 });
    expect(sent).toEqual(['hello', 'replSetGetStatus', 'replSetGetConfig']);
  });

  it('a server that is not a replica set (FerretDB answers hello without setName) is asked once, then never again', async () => {
    const { db, sent } = fakeAdmin({ hello: { isWritablePrimary: true, maxWireVersion: 21, ok: 1 } });
    const p = new ReplicationLagProbe(log);
    for (let i = 0; i < 3; i++) expect((await p.read(db)).kind).toBe('none');
    expect(sent).toEqual(['hello']);
    expect(p.noSignal).toMatch(/not a replica set member/);
  });

  it('mongos gives no lag signal', async () => {
    const { db } = fakeAdmin({ hello: { isWritablePrimary: true, msg: 'isdbgrid', ok: 1 } });
    const p = new ReplicationLagProbe(log);
    await p.read(db);
    expect(p.noSignal).toMatch(/mongos/);
  });

  it('replSetGetStatus refused (no clusterMonitor role): no signal, with the fix in the reason', async () => {
    const { db, sent } = fakeAdmin({
      hello: HELLO_RS,
      replSetGetStatus: new MongoServerError({ message: 'not authorized on admin', code: 13, ok: 0 }),
    });
    const p = new ReplicationLagProbe(log);
    await p.read(db);
    await p.read(db);
    expect(p.noSignal).toMatch(/clusterMonitor/);
    expect(sent).toEqual(['hello', 'replSetGetStatus']);
  });

  it('a network error is thrown (no reading this time), not taken as "no signal"', async () => {
    const { db } = fakeAdmin({ hello: HELLO_RS, replSetGetStatus: new Error('connection reset') });
    const p = new ReplicationLagProbe(log);
    await expect(p.read(db)).rejects.toThrow('connection reset');
    expect(p.noSignal).toBeUndefined();
  });
});
