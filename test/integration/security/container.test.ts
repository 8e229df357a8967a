// The operator runs as a non-root user on a read-only root filesystem:
//  - the chart's rendered Deployment says so (pod and container securityContext, only emptyDir volumes);
//  - the Dockerfile's runtime stage says so (numeric non-root USER matching the chart, code owned by root);
//  - and it really works that way: the built operator runs as uid/gid 65532 in a private mount namespace
//    whose root filesystem is read-only, with only /tmp and the spool directory writable (tmpfs, as the
//    chart's emptyDirs), and archives a real backlog from FerretDB to versitygw.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { repoRoot, testEnv, uniqueName } from '../../support/testenv.js';
import {
  assertBuilt,
  chartDir,
  cliMain,
  createNamespace,
  deleteNamespace,
  ensureCrd,
  helm,
  mustKubectl,
  runProcess,
  stopProcess,
  waitFor,
  GiveUp,
} from '../badinput/harness.js';
import { DAY, stores, type Stores } from '../badinput/stores.js';

type SecurityContext = {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  runAsGroup?: number;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  capabilities?: { drop?: string[]; add?: string[] };
  seccompProfile?: { type: string };
};
interface PodSpec {
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  securityContext?: SecurityContext & { fsGroup?: number };
  containers: {
    name: string;
    args: string[];
    securityContext?: SecurityContext;
    volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  }[];
  initContainers?: unknown[];
  volumes?: { name: string; emptyDir?: unknown; hostPath?: unknown; [k: string]: unknown }[];
}

const CHART_UID = 65532;

async function renderDeployment(values: unknown = {}): Promise<PodSpec> {
  const r = await helm(
    ['template', 'gochive', chartDir, '--namespace', 'gochive', '-f', '-'],
    JSON.stringify(values),
  );
  if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  const deps = parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as { kind?: string; spec?: { template: { spec: PodSpec } } } | null)
    .filter((o) => o?.kind === 'Deployment');
  expect(deps).toHaveLength(1);
  return deps[0]!.spec!.template.spec;
}

describe('rendered Deployment: non-root, read-only root filesystem, no privileges', () => {
  test('default values lock the container down', async () => {
    const pod = await renderDeployment();
    expect(pod.hostNetwork ?? false).toBe(false);
    expect(pod.hostPID ?? false).toBe(false);
    expect(pod.hostIPC ?? false).toBe(false);
    expect(pod.initContainers ?? []).toEqual([]);
    expect(pod.containers).toHaveLength(1);
    const c = pod.containers[0]!;
    const sc = c.securityContext ?? {};
    const psc = pod.securityContext ?? {};
    // Effective settings: the container's own override the pod's.
    const eff = <K extends keyof SecurityContext>(k: K) => sc[k] ?? psc[k];
    expect(eff('runAsNonRoot')).toBe(true);
    expect(eff('runAsUser')).toBe(CHART_UID);
    expect(eff('runAsGroup') ?? CHART_UID).not.toBe(0);
    expect(sc.readOnlyRootFilesystem).toBe(true);
    expect(sc.allowPrivilegeEscalation).toBe(false);
    expect(sc.privileged ?? false).toBe(false);
    expect(sc.capabilities?.drop).toContain('ALL');
    expect(sc.capabilities?.add ?? []).toEqual([]);
    expect(eff('seccompProfile')).toEqual({ type: 'RuntimeDefault' });
    // The only writable places are emptyDirs: the spool (passed as --spool-dir) and /tmp.
    for (const v of pod.volumes ?? []) {
      expect({ volume: v.name, hostPath: v.hostPath }).toEqual({ volume: v.name, hostPath: undefined });
      expect(v.emptyDir).toBeDefined();
    }
    const mounts = Object.fromEntries((c.volumeMounts ?? []).map((m) => [m.mountPath, m.name]));
    const spoolArg = c.args.find((a) => a.startsWith('--spool-dir='))!.slice('--spool-dir='.length);
    expect(mounts[spoolArg]).toBeDefined();
    expect(mounts['/tmp']).toBeDefined();
    expect(Object.keys(mounts).sort()).toEqual([spoolArg, '/tmp'].sort());
  });
});

/** The runtime stage of the Dockerfile: its instructions, with ARG defaults substituted. */
function runtimeStage(): { from: string; lines: string[] } {
  const text = readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const globalArgs: Record<string, string> = {};
  let stage: string[] | undefined;
  const stages: { from: string; lines: string[] }[] = [];
  for (const l of lines) {
    const [instr] = l.split(/\s+/, 1);
    if (/^FROM$/i.test(instr!)) {
      stage = [];
      stages.push({ from: l, lines: stage });
      continue;
    }
    if (!stage) {
      const m = /^ARG\s+(\w+)=(\S+)/i.exec(l);
      if (m) globalArgs[m[1]!] = m[2]!;
      continue;
    }
    stage.push(l);
  }
  const last = stages[stages.length - 1]!;
  const args: Record<string, string> = { ...globalArgs };
  const out: string[] = [];
  for (const l of last.lines) {
    const m = /^ARG\s+(\w+)(?:=(\S+))?/i.exec(l);
    if (m) {
      if (m[2] !== undefined) args[m[1]!] = m[2];
      continue;
    }
    out.push(l.replace(/\$\{?(\w+)\}?/g, (all, k: string) => args[k] ?? all));
  }
  return { from: last.from, lines: out };
}

describe('Dockerfile: the runtime stage runs as a numeric non-root user', () => {
  const stage = runtimeStage();

  test('the last USER is numeric uid:gid, non-zero, the chart’s runAsUser, and nothing switches back to root', () => {
    const users = stage.lines.filter((l) => /^USER\s/i.test(l)).map((l) => l.split(/\s+/)[1]!);
    expect(users.length).toBeGreaterThan(0);
    const last = users[users.length - 1]!;
    expect(last).toMatch(/^\d+(:\d+)?$/);
    const [uid, gid] = last.split(':').map(Number);
    expect(uid).not.toBe(0);
    if (gid !== undefined) expect(gid).not.toBe(0);
    expect(uid).toBe(CHART_UID);
    // Nothing after the last USER runs as root (no RUN at all is needed there).
    const afterUser = stage.lines.slice(stage.lines.findLastIndex((l) => /^USER\s/i.test(l)) + 1);
    expect(afterUser.filter((l) => /^(RUN|USER)\s/i.test(l))).toEqual([]);
  });

  test('code is owned by root (the runtime user cannot change it), no setuid, exec-form entrypoint', () => {
    for (const l of stage.lines.filter((x) => /^COPY\s/i.test(x))) {
      const chown = /--chown=(\S+)/.exec(l)?.[1];
      // COPY without --chown writes root-owned files; an explicit owner must be root too.
      if (chown) expect({ copy: l, owner: chown.split(':')[0] }).toEqual({ copy: l, owner: 'root' });
    }
    expect(stage.lines.join('\n')).not.toMatch(/chmod\s+[^\n]*(u\+s|g\+s|[4267]\d{3}\b)/);
    const entry = stage.lines.find((l) => /^ENTRYPOINT\s/i.test(l))!;
    expect(entry).toMatch(/^ENTRYPOINT\s+\[/);
    const parsed = JSON.parse(entry.replace(/^ENTRYPOINT\s+/i, '')) as string[];
    expect(parsed[0]).toBe('node');
  });
});

describe('at run time: the built operator archives as uid 65532 on a read-only root filesystem', () => {
  let st: Stores;
  let ns: string;
  let work: string;
  let op: ChildProcess | undefined;
  let log = '';

  beforeAll(async () => {
    assertBuilt('cli/operator', 'archiver/worker');
    await ensureCrd();
    ns = uniqueName('sec-ro');
    await createNamespace(ns);
    st = await stores('sec_ro');
    // Work dir outside /tmp (which gets its own tmpfs): the spool mount point and the kubeconfig copy.
    work = mkdtempSync(path.join('/var/tmp', 'gochive-ro-'));
    chmodSync(work, 0o755); // the runtime user must reach the spool mount point below it
  });

  afterAll(async () => {
    await stopProcess(op);
    await deleteNamespace(ns);
    await st?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('a backlog of 300 documents is archived and deleted; nothing outside /tmp and the spool is written', async () => {
    const probe = await runProcess('unshare', ['-m', '--propagation', 'private', 'true']);
    if (probe.code !== 0)
      throw new Error(`this test needs mount namespaces (unshare -m) as root: ${probe.stderr}`);

    const env = testEnv();
    const old = Date.now() - 200 * DAY;
    const coll = st.db.collection('events');
    await coll.createIndex({ createdAt: 1 });
    await coll.insertMany(
      Array.from({ length: 300 }, (_, i) => ({
        i,
        createdAt: new Date(old + i * 1000),
        pad: 'x'.repeat(200),
      })),
    );
    await coll.insertMany(Array.from({ length: 20 }, (_, i) => ({ i: 1000 + i, createdAt: new Date() })));

    await mustKubectl([
      'create',
      'secret',
      'generic',
      'mongo',
      '-n',
      ns,
      `--from-literal=uri=${env.mongoUri}`,
    ]);
    await mustKubectl([
      'create',
      'secret',
      'generic',
      's3',
      '-n',
      ns,
      `--from-literal=AWS_ACCESS_KEY_ID=${env.s3.accessKeyId}`,
      `--from-literal=AWS_SECRET_ACCESS_KEY=${env.s3.secretAccessKey}`,
    ]);
    const spec = {
      uriSecretRef: { name: 'mongo' },
      ageLimit: '92d',
      queryLimit: 100,
      archiveCheckInterval: 1,
      collection: 'events',
      database: st.dbName,
      archiveField: 'createdAt',
      allowCollectionScan: true,
      s3: {
        bucket: `${st.bucket}/ro/`,
        uploadInterval: 2,
        endpoint: env.s3.endpoint,
        forcePathStyle: true,
        region: env.s3.region,
        credentialsSecretRef: { name: 's3' },
      },
    };
    await mustKubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'gochive.io/v1alpha1',
        kind: 'ArchivePolicy',
        metadata: { name: 'ro', namespace: ns },
        spec,
      }),
    );

    // Inside a private mount namespace: "/" bind-remounted read-only, tmpfs on /tmp and on the spool dir
    // (owned by the runtime user, as fsGroup makes the chart's emptyDirs), the kubeconfig copied there,
    // then privileges dropped to 65532:65532 with no supplementary groups before node starts.
    // The checkout (code, dist/, node_modules) is bind-mounted read-only under the work dir first: it
    // may itself live under /tmp (a CI clone), which the tmpfs below hides; the kubeconfig (under the
    // checkout's .testenv/) is copied before that, too.
    const spool = path.join(work, 'spool');
    const app = path.join(work, 'app');
    const appMain = path.join(app, path.relative(repoRoot, cliMain));
    const script = [
      'set -e',
      `mkdir -p ${spool} ${app}`,
      'mount --bind / /',
      'mount -o remount,ro,bind /',
      `mount --bind ${repoRoot} ${app}`,
      `mount -o remount,ro,bind ${app}`,
      `mount -t tmpfs -o uid=${CHART_UID},gid=${CHART_UID},mode=0700,size=256m tmpfs ${spool}`,
      `cp "$KC_SRC" ${spool}/kubeconfig && chown ${CHART_UID}:${CHART_UID} ${spool}/kubeconfig && chmod 0400 ${spool}/kubeconfig`,
      `mount -t tmpfs -o mode=1777,size=64m tmpfs /tmp`,
      // Prove the root filesystem really is read-only for the process about to start.
      // (Still root here: only the read-only mount can refuse this.)
      `if touch ${work}/ro-probe 2>/dev/null; then echo "root fs is writable" >&2; exit 97; fi`,
      `exec setpriv --reuid=${CHART_UID} --regid=${CHART_UID} --clear-groups --no-new-privs ${process.execPath} ${appMain} operator --kubeconfig=${spool}/kubeconfig --namespaces=${ns} --lease-namespace=${ns} --spool-dir=${spool}/data --metrics-bind-address=127.0.0.1:0 --status-min-interval=200ms`,
    ].join('\n');
    op = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], {
      cwd: '/',
      env: {
        PATH: env.path,
        HOME: '/nonexistent',
        KC_SRC: env.kubeconfig,
        AWS_EC2_METADATA_DISABLED: 'true',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    op.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    op.stderr!.on('data', (d: Buffer) => (log += d.toString()));

    const totals = await waitFor(
      'the policy to have archived and deleted 300 documents',
      async () => {
        if (op!.exitCode !== null) throw new GiveUp(`operator exited ${op!.exitCode}: ${log.slice(-3000)}`);
        const p = JSON.parse(await mustKubectl(['get', 'archivepolicy', 'ro', '-n', ns, '-o', 'json'])) as {
          status?: { totals?: { documentsArchived?: number; documentsDeleted?: number } };
        };
        const t = p.status?.totals;
        return t && t.documentsDeleted === 300 ? t : undefined;
      },
      180_000,
      500,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\noperator output (tail):\n${log.slice(-4000)}`);
    });
    expect(totals.documentsArchived).toBe(300);
    expect(await coll.countDocuments()).toBe(20);
    expect(await st.archived()).toHaveLength(300);
    // No write was refused anywhere (it only ever wrote to /tmp and the spool).
    expect(log).not.toMatch(/EROFS|read-only file system|EACCES|permission denied/i);
    expect(log).not.toContain('root fs is writable');
  }, 300_000);
});
