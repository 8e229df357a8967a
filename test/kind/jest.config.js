// The chart e2e suite against an existing cluster (make kind-e2e): the integration project's settings
// without its globalSetup, which would start the local test servers and point KUBECONFIG, MONGODB_URI
// and AWS_* at them. Here those variables come from test/kind/run.sh.
import base from '../../jest.config.js';

const integration = base.projects.find((p) => p.displayName === 'integration');
const { globalSetup: _setup, globalTeardown: _teardown, ...settings } = integration;

export default {
  ...settings,
  rootDir: '../..',
  displayName: 'kind-e2e',
  testMatch: ['<rootDir>/test/integration/chart/e2e.test.ts'],
  testTimeout: 600000,
};
