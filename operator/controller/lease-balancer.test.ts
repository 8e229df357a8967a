import { balanceStep, type BalanceInput } from './lease-balancer.js';
import { rendezvousScore } from './lease-names.js';

const keys = (n: number): string[] => Array.from({ length: n }, (_, i) => `ns/p${i}`);

function input(over: Partial<BalanceInput>): BalanceInput {
  const desired = new Set(keys(10));
  return {
    identity: 'replica-a',
    desired,
    holding: [],
    tracked: () => false,
    liveReplicas: 2,
    isFree: () => true,
    ...over,
  };
}

describe('balanceStep', () => {
  test('below the fair share: takes free policies, the ones this replica prefers first, up to the share', () => {
    const step = balanceStep(input({ isFree: (k) => k !== 'ns/p3' }));
    expect(step.kind).toBe('acquire');
    const taken = step.kind === 'acquire' ? step.keys : [];
    expect(taken).toHaveLength(5); // ceil(10 / 2)
    expect(taken).not.toContain('ns/p3');
    const scores = taken.map((k) => rendezvousScore('replica-a', k));
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
  });

  test('above the fair share: hands back the one policy it prefers least', () => {
    const holding = keys(8);
    const step = balanceStep(input({ holding, tracked: (k) => holding.includes(k), liveReplicas: 3 }));
    const least = [...holding].sort(
      (a, b) => rendezvousScore('replica-a', a) - rendezvousScore('replica-a', b),
    )[0];
    expect(step).toEqual({ kind: 'release', key: least, reason: 'rebalancing: holding 8 > fair share 4' });
  });

  test('at the fair share, or nothing free: does nothing', () => {
    const holding = keys(5);
    expect(balanceStep(input({ holding, tracked: (k) => holding.includes(k) }))).toEqual({ kind: 'none' });
    expect(balanceStep(input({ isFree: () => false }))).toEqual({ kind: 'none' });
  });
});
