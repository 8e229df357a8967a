// Where the chart e2e suite runs. Locally (default): the test control plane, FerretDB and versitygw from
// testEnv(), with the operator started here as a process that authenticates as the chart's
// ServiceAccount. In a real cluster (`make kind-e2e`): GOCHIVE_E2E_IN_CLUSTER=1, the chart's own
// Deployment runs the operator image, and the servers are reached twice — by the test through
// MONGODB_URI / AWS_ENDPOINT_URL_S3 (port-forwards), by the operator through in-cluster addresses.
import { testEnv } from '../../support/testenv.js';

export interface E2eEnv {
  inCluster: boolean;
  /** The test's own connection (seeding and checking). */
  mongoUri: string;
  s3: ReturnType<typeof testEnv>['s3'];
  /** What policies use: `hostAddress` (through the chart's URI template) and the S3 endpoint. */
  policyMongoHost: string;
  policyS3Endpoint: string;
  /** mongodb.uriTemplate for the chart, built from MONGODB_URI with its host replaced by {host}. */
  uriTemplate: string;
  /** Credentials found in MONGODB_URI, for the chart's credentials Secret. */
  credentials?: { username: string; password: string };
  /** In-cluster only: the operator image to deploy. */
  image?: { repository: string; tag: string };
}

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} must be set when GOCHIVE_E2E_IN_CLUSTER=1 (see test/kind/run.sh)`);
  return v;
}

export function e2eEnv(): E2eEnv {
  const env = testEnv();
  const inCluster = process.env.GOCHIVE_E2E_IN_CLUSTER === '1';
  const url = new URL(env.mongoUri);
  const credentials = url.username
    ? { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) }
    : undefined;
  const rest = `${url.pathname || '/'}${url.search}`;
  const uriTemplate = `${url.protocol}//${credentials ? '{username}:{password}@' : ''}{host}${rest}`;
  if (!inCluster) {
    return {
      inCluster,
      mongoUri: env.mongoUri,
      s3: env.s3,
      policyMongoHost: url.host,
      policyS3Endpoint: env.s3.endpoint,
      uriTemplate,
      ...(credentials ? { credentials } : {}),
    };
  }
  const image = required('GOCHIVE_E2E_IMAGE');
  const colon = image.lastIndexOf(':');
  return {
    inCluster,
    mongoUri: env.mongoUri,
    s3: env.s3,
    policyMongoHost: required('GOCHIVE_E2E_CLUSTER_MONGODB_HOST'),
    policyS3Endpoint: required('GOCHIVE_E2E_CLUSTER_S3_ENDPOINT'),
    uriTemplate,
    ...(credentials ? { credentials } : {}),
    image:
      colon > image.lastIndexOf('/')
        ? { repository: image.slice(0, colon), tag: image.slice(colon + 1) }
        : { repository: image, tag: 'latest' },
  };
}
