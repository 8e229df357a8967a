import { parseFlagDuration, parseOperatorArgs, usage } from './options.js';

const noFile = () => undefined;

describe('parseOperatorArgs', () => {
  it('has working defaults', () => {
    const r = parseOperatorArgs([], {}, noFile);
    if (!r.ok) throw new Error('expected ok');
    expect(r.options).toMatchObject({
      namespaces: [],
      leaseNamespace: 'default',
      leaseDurationMs: 15000,
      renewIntervalMs: 5000,
      metricsBindAddress: ':8080',
      logLevel: 'info',
      maxConcurrentReconciles: 4,
      expireIntervalMs: 3_600_000,
    });
    expect(r.options.identity).toMatch(/-[0-9a-f]{6}$/);
  });

  it('reads flags in both --a=b and --a b forms, and flags win over env', () => {
    const r = parseOperatorArgs(
      [
        '--namespaces=a,b',
        '--lease-duration',
        '5s',
        '--renew-interval=1s',
        '--credentials-secret',
        'ops/mongo',
        '--identity=pod-1',
        '--mongodb-uri-template',
        'mongodb://{username}:{password}@{host}:27017/',
      ],
      { GOCHIVE_NAMESPACES: 'zzz', GOCHIVE_LOG_LEVEL: 'debug' },
      noFile,
    );
    if (!r.ok) throw new Error(JSON.stringify(r));
    expect(r.options.namespaces).toEqual(['a', 'b']);
    expect(r.options.leaseDurationMs).toBe(5000);
    expect(r.options.renewIntervalMs).toBe(1000);
    expect(r.options.credentialsSecret).toEqual({ namespace: 'ops', name: 'mongo' });
    expect(r.options.identity).toBe('pod-1');
    expect(r.options.logLevel).toBe('debug');
  });

  it('takes the lease namespace from POD_NAMESPACE or the service-account file, and a bare secret name in it', () => {
    const r = parseOperatorArgs(['--credentials-secret=mongo'], { POD_NAMESPACE: 'gochive-system' }, noFile);
    expect(r.ok && r.options.leaseNamespace).toBe('gochive-system');
    expect(r.ok && r.options.credentialsSecret).toEqual({ namespace: 'gochive-system', name: 'mongo' });
    const f = parseOperatorArgs([], {}, () => 'from-file');
    expect(f.ok && f.options.leaseNamespace).toBe('from-file');
  });

  it('rejects bad values with a message naming the flag', () => {
    const bad: Array<[string[], RegExp]> = [
      [['--lease-duration=soon'], /--lease-duration/],
      [['--lease-duration=4s', '--renew-interval=3s'], /--renew-interval/],
      [['--max-concurrent-reconciles=0'], /--max-concurrent-reconciles/],
      [['--namespaces=Bad_NS'], /--namespaces/],
      [['--credentials-secret=a/b/c'], /--credentials-secret/],
      [['--mongodb-uri-template=http://x'], /--mongodb-uri-template/],
      [['--log-level=loud'], /--log-level/],
      [['--nope=1'], /unknown flag --nope/],
      [['--identity'], /needs a value/],
    ];
    for (const [argv, re] of bad) {
      const r = parseOperatorArgs(argv, {}, noFile);
      expect(r.ok).toBe(false);
      if (!r.ok && !r.help) expect(r.message).toMatch(re);
    }
  });

  it('answers --help, and the usage lists every flag with its environment variable', () => {
    expect(parseOperatorArgs(['--help'], {}, noFile)).toEqual({ ok: false, help: true });
    expect(usage()).toContain('GOCHIVE_MONGODB_URI_TEMPLATE');
    expect(usage()).toContain('--metrics-bind-address');
  });

  it('parses durations', () => {
    expect(parseFlagDuration('500ms', 'x')).toBe(500);
    expect(parseFlagDuration('1.5s', 'x')).toBe(1500);
    expect(parseFlagDuration('2m', 'x')).toBe(120000);
    expect(parseFlagDuration('7', 'x')).toBe(7000);
    expect(() => parseFlagDuration('0s', 'x')).toThrow(/--x/);
  });
});
