// The in-cluster suites (make test-cluster, test/cluster/run.sh): the chart e2e suite with
// GOCHIVE_E2E_IN_CLUSTER=1 plus test/cluster/*.test.ts, against the one-node cluster. The integration
// project's settings with the cluster's globalSetup instead of the local test servers': it brings the
// cluster up (or reuses it) and sets KUBECONFIG, MONGODB_URI, AWS_* and PATH from .testenv/cluster/env.
import base from '../../jest.config.js';

const integration = base.projects.find((p) => p.displayName === 'integration');
const { globalSetup: _setup, globalTeardown: _teardown, ...settings } = integration;

export default {
  ...settings,
  rootDir: '../..',
  displayName: 'cluster',
  testMatch: ['<rootDir>/test/integration/chart/e2e.test.ts', '<rootDir>/test/cluster/**/*.test.ts'],
  globalSetup: '<rootDir>/test/cluster/jest-global-setup.ts',
  testTimeout: 900000,
};
