// The servers and clients the tests need, each built from a wrapper Go module under test/env/tools/<dir>.
import path from 'node:path';
import { cacheRoot, toolsDir } from './paths.js';

export interface Binary {
  /** File name in the cache dir. */
  name: string;
  /** Package path passed to `go build` (relative to the wrapper module). */
  pkg: string;
  ldflags?: string;
}

export interface Tool {
  name: string;
  version: string;
  /** Wrapper module directory under test/env/tools/. */
  dir: string;
  binaries: Binary[];
}

const k8sVersion = 'v1.36.3';
const k8sMinor = k8sVersion.split('.')[1]!;
// Stamp the version the way the upstream release build does, so /version and `kubectl version` report it.
const k8sLdflags = [
  `-X k8s.io/component-base/version.gitVersion=${k8sVersion}`,
  `-X k8s.io/component-base/version.gitMajor=1`,
  `-X k8s.io/component-base/version.gitMinor=${k8sMinor}`,
  `-X k8s.io/component-base/version.gitTreeState=clean`,
  `-X k8s.io/client-go/pkg/version.gitVersion=${k8sVersion}`,
].join(' ');

export const tools = {
  etcd: { name: 'etcd', version: 'v3.6.16', dir: 'etcd', binaries: [{ name: 'etcd', pkg: '.' }] },
  ferretdb: {
    name: 'ferretdb',
    version: 'v1.24.2',
    dir: 'ferretdb',
    binaries: [{ name: 'ferretdb', pkg: '.' }],
  },
  // FerretDB 2 (test/env/postgres.ts runs the PostgreSQL + DocumentDB it needs): built only when it is
  // the selected MongoDB server (GOCHIVE_MONGO=ferretdb2, make ... MONGO=ferretdb2).
  ferretdb2: {
    name: 'ferretdb',
    version: 'v2.7.0',
    dir: 'ferretdb2',
    binaries: [{ name: 'ferretdb', pkg: '.' }],
  },
  versitygw: {
    name: 'versitygw',
    version: 'v1.7.0',
    dir: 'versitygw',
    binaries: [{ name: 'versitygw', pkg: 'github.com/versity/versitygw/cmd/versitygw' }],
  },
  helm: {
    name: 'helm',
    version: 'v3.22.0',
    dir: 'helm',
    // Stamp the version so `helm version` reports v3.22.0 rather than the bare module default.
    binaries: [
      {
        name: 'helm',
        pkg: 'helm.sh/helm/v3/cmd/helm',
        ldflags: '-X helm.sh/helm/v3/internal/version.version=v3.22.0',
      },
    ],
  },
  // promtool only: the alert-rule test evaluates the chart's PrometheusRule with `promtool test rules`.
  // Prometheus v3's Go module is versioned v0.3xx.y (v0.316.0 is Prometheus 3.16.0).
  prometheus: {
    name: 'prometheus',
    version: 'v0.316.0',
    dir: 'prometheus',
    binaries: [
      {
        name: 'promtool',
        pkg: 'github.com/prometheus/prometheus/cmd/promtool',
        ldflags: '-X github.com/prometheus/common/version.Version=3.16.0',
      },
    ],
  },
  kubernetes: {
    name: 'kubernetes',
    version: k8sVersion,
    dir: 'kubernetes',
    binaries: [
      { name: 'kube-apiserver', pkg: 'k8s.io/kubernetes/cmd/kube-apiserver', ldflags: k8sLdflags },
      { name: 'kubectl', pkg: 'k8s.io/kubernetes/cmd/kubectl', ldflags: k8sLdflags },
    ],
  },
  // The rest of a node, for the one-node cluster only (make cluster-up; test/cluster): built from the same
  // wrapper module and version, cached apart so `make test` never waits for them.
  kubernetesNode: {
    name: 'kubernetes-node',
    version: k8sVersion,
    dir: 'kubernetes',
    binaries: ['kubelet', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy'].map((name) => ({
      name,
      pkg: `k8s.io/kubernetes/cmd/${name}`,
      ldflags: k8sLdflags,
    })),
  },
} satisfies Record<string, Tool>;

export type ToolName = keyof typeof tools;
/** What every test run needs (jest's global setup builds these); the cluster's extra binaries and FerretDB 2
 * are not. FerretDB 1.x stays: a few tests start a private one whatever the selected server is. */
export const allTools: Tool[] = Object.values(tools).filter(
  (t) => t !== tools.kubernetesNode && t !== tools.ferretdb2,
);

export function toolCacheDir(tool: Tool): string {
  return path.join(cacheRoot(), `${tool.name}-${tool.version}`);
}

export function binaryPath(tool: Tool, binary: string): string {
  return path.join(toolCacheDir(tool), binary);
}

export function wrapperDir(tool: Tool): string {
  return path.join(toolsDir, tool.dir);
}
