// The chart's values (charts/gochive/values.yaml), as a JSON Schema for values.schema.json. Policy
// entries reuse the ArchivePolicy spec schema strictly (an original values entry verbatim is valid);
// chart-level keys are declared one by one and unknown ones refused, so a misspelt key fails
// `helm install` rather than being silently ignored (a new values.yaml key needs a line here).
import { z } from 'zod';
import { archivePolicySpecSchema, filterJsonSchemaDefinitions } from './schema.js';
import { toDraft7Schema, zodToJsonSchema, type JsonSchema } from './json-schema.js';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const policyNameSchema = z
  .string()
  .min(1)
  .max(63)
  .regex(DNS_LABEL)
  .describe(
    'Policy name (the ArchivePolicy metadata.name; the pod name in the original): lowercase letters, digits and "-", at most 63 characters.',
  );

/**
 * A block of chart values: every key is declared and an unknown one is refused (additionalProperties:
 * false), so a typo such as `serviceMonitor.enable` fails `helm install` instead of being ignored.
 * Keep in step with values.yaml (chart-values.test.ts checks every key of values.yaml is declared).
 */
const block = <T extends z.ZodRawShape>(shape: T, description: string) =>
  z.strictObject(shape).optional().describe(description);
/** Free-form Kubernetes objects and maps (resources, affinity, labels…), passed through as written. */
const freeForm = (description: string) => z.record(z.string(), z.unknown()).optional().describe(description);
const list = (description: string) => z.array(z.unknown()).optional().describe(description);
const str = (description: string) => z.string().optional().describe(description);
const bool = (description: string) => z.boolean().optional().describe(description);
const int = (min: number, max: number, description: string) =>
  z.number().int().min(min).max(max).optional().describe(description);
const secretKeyName = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[-._a-zA-Z0-9]+$/, { error: 'must be a Secret data key: letters, digits, "-", "_" and "."' });
const probe = (what: string) =>
  block(
    {
      periodSeconds: int(1, 3600, `${what} probe period in seconds.`),
      failureThreshold: int(1, 100, `Consecutive ${what} probe failures tolerated.`),
    },
    `${what} probe.`,
  );

/** Chart-level values other than `policies`: every key of values.yaml, and nothing else. */
export const chartValuesSchema = z.strictObject({
  // Helm passes `global` to every chart (also a parent chart's values for a subchart): always allowed.
  global: freeForm('Helm global values (not used by this chart).'),
  mongodb: block(
    {
      uriTemplate: z
        .string()
        // Userinfo may only be the {username}/{password} placeholders: a literal password here would end
        // up in the Deployment's args, readable by anyone who can read pods.
        .regex(/^$|^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/(\{username\}(:\{password\})?@)?[^@]*\{host\}[^@]*$/, {
          error:
            'must be scheme://[{username}:{password}@]...{host}... with no literal credentials (they come from existingSecret), or empty when every policy uses uriSecretRef',
        })
        .optional()
        .describe(
          'Connection URI template for hostAddress (empty when every policy uses uriSecretRef), e.g. mongodb+srv://{username}:{password}@prod-{host}-shard01.example.com/?tls=true. {username} and {password} come from the credentials Secret, URL-encoded.',
        ),
      existingSecret: str('Secret (in the release namespace) with the MongoDB username and password.'),
      usernameKey: secretKeyName.optional().describe('Key of the username in the Secret.'),
      passwordKey: secretKeyName.optional().describe('Key of the password in the Secret.'),
      externalSecret: block(
        {
          enabled: bool('Create an ExternalSecret (external-secrets.io) that fills the credentials Secret.'),
          refreshInterval: str('How often the external-secrets operator refreshes the Secret.'),
          secretStoreRef: block(
            {
              kind: z
                .enum(['SecretStore', 'ClusterSecretStore'])
                .optional()
                .describe('SecretStore or ClusterSecretStore.'),
              name: str('Name of the (Cluster)SecretStore.'),
            },
            'The secret store to read from.',
          ),
          remoteKey: str('Key of the secret in the external store.'),
          usernameProperty: str('Property of the remote secret that holds the username.'),
          passwordProperty: str('Property of the remote secret that holds the password.'),
        },
        'ExternalSecret producing the credentials Secret, as the original chart used.',
      ),
    },
    'How policies with hostAddress connect to MongoDB.',
  ),
  operator: block(
    {
      logLevel: z
        .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal'])
        .optional()
        .describe('Log level.'),
      watchNamespaces: z
        .array(
          z
            .string()
            .max(63)
            .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, { error: 'must be a namespace name (a DNS label)' }),
        )
        .optional()
        .describe('Namespaces to watch; empty means all.'),
      leaseDurationSeconds: int(
        5,
        3600,
        "Per-policy Lease duration; a dead replica's policies move after it.",
      ),
      extraArgs: z.array(z.string()).optional().describe('Extra command-line flags for `gochive operator`.'),
      extraEnv: list('Extra environment variables for the operator container.'),
    },
    'Operator settings.',
  ),
  aws: block({ region: str('AWS_REGION for the operator; empty: not set.') }, 'AWS settings.'),
  image: block(
    {
      repository: z.string().min(1).optional().describe('Image repository.'),
      tag: str('Image tag; empty means the chart appVersion.'),
      digest: str('Image digest (sha256:...); when set it is used instead of the tag.'),
      pullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).optional().describe('Image pull policy.'),
    },
    'Operator image.',
  ),
  imagePullSecrets: z
    .array(z.looseObject({ name: z.string() }))
    .optional()
    .describe('Image pull secrets.'),
  replicaCount: int(0, 100, 'Operator replicas; they split the policies between them through Leases.'),
  podDisruptionBudget: block(
    {
      enabled: bool('Create a PodDisruptionBudget when replicaCount is greater than 1.'),
      maxUnavailable: z
        .union([
          z.number().int().min(0),
          z.string().regex(/^[0-9]+%$/, { error: 'must be a percentage like 50%' }),
        ])
        .optional()
        .describe(
          'Replicas a voluntary disruption (a node drain) may take down at once: a number or a percentage.',
        ),
    },
    'PodDisruptionBudget for the operator pods (only with more than one replica).',
  ),
  nameOverride: str('Override the chart name in resource names.'),
  fullnameOverride: str('Override the full resource name prefix.'),
  serviceAccount: block(
    {
      create: bool('Create the ServiceAccount.'),
      name: str('ServiceAccount name; empty means the release fullname.'),
      annotations: z
        .record(z.string(), z.string())
        .optional()
        .describe('Annotations, e.g. eks.amazonaws.com/role-arn for IRSA.'),
      automountServiceAccountToken: bool('Mount the ServiceAccount token.'),
    },
    'Operator ServiceAccount.',
  ),
  rbac: block({ create: bool('Create the ClusterRole/Role and bindings.') }, 'RBAC.'),
  resources: freeForm('Operator container resources.'),
  spool: block(
    {
      mountPath: str('Where bundles are built before upload (an emptyDir).'),
      sizeLimit: z
        .union([z.string(), z.number()])
        .optional()
        .describe('emptyDir size limit of the spool volume, e.g. 10Gi.'),
      medium: str('emptyDir medium ("" for node disk, "Memory" for tmpfs).'),
    },
    'Local spool volume shared by the policies of one replica.',
  ),
  tmpSizeLimit: z.union([z.string(), z.number()]).optional().describe('Size limit of the /tmp emptyDir.'),
  metrics: block(
    {
      port: int(1, 65535, 'Port serving /metrics, /healthz and /readyz.'),
      service: block(
        {
          enabled: bool('Create a Service for the metrics port.'),
          type: str('Service type.'),
          port: int(1, 65535, 'Service port.'),
          annotations: freeForm('Service annotations.'),
        },
        'Metrics Service.',
      ),
      serviceMonitor: block(
        {
          enabled: bool('Create a ServiceMonitor.'),
          interval: str('Scrape interval.'),
          scrapeTimeout: str('Scrape timeout.'),
          labels: freeForm('Extra labels.'),
        },
        'Prometheus Operator ServiceMonitor.',
      ),
      prometheusRule: block(
        {
          enabled: bool('Create a PrometheusRule with gochive alerts.'),
          labels: freeForm('Extra labels.'),
          noSuccessIntervals: int(1, 1000, 'Upload intervals without success before GochiveNoRecentSuccess.'),
          otherPoliciesNoSuccessSeconds: int(
            0,
            31_536_000,
            'The same for other policies, in seconds; 0: off.',
          ),
          noSuccessSinceStartFor: str('GochiveNoSuccessSinceStart after this long; "" turns it off.'),
          for: str('How long a condition must hold before an alert fires.'),
          severity: str('Severity label of the alerts.'),
          additionalRules: list('Extra alerting rules appended to the group.'),
        },
        'Prometheus Operator PrometheusRule with gochive alerts.',
      ),
    },
    'Prometheus metrics.',
  ),
  probes: block({ liveness: probe('Liveness'), readiness: probe('Readiness') }, 'Container probes.'),
  terminationGracePeriodSeconds: int(0, 86_400, 'Seconds between SIGTERM and SIGKILL.'),
  podSecurityContext: freeForm('Pod securityContext.'),
  securityContext: freeForm('Container securityContext.'),
  podAnnotations: freeForm('Pod annotations.'),
  podLabels: freeForm('Pod labels.'),
  priorityClassName: str('Pod priorityClassName.'),
  nodeSelector: z.record(z.string(), z.string()).optional().describe('Node selector.'),
  tolerations: list('Tolerations.'),
  affinity: freeForm('Affinity.'),
  topologySpreadConstraints: list('Topology spread constraints.'),
});

/** The complete draft-07 values.schema.json. */
export function chartValuesJsonSchema(): JsonSchema {
  const spec = toDraft7Schema(zodToJsonSchema(archivePolicySpecSchema));
  const name = toDraft7Schema(zodToJsonSchema(policyNameSchema));
  const entry: JsonSchema = {
    ...spec,
    description:
      'One policy, exactly like an entry of the original gochive values file: name plus the ArchivePolicy spec fields.',
    properties: { name, ...(spec.properties as JsonSchema) },
    required: ['name', ...((spec.required as string[]) ?? [])],
    additionalProperties: false,
  };
  const top = toDraft7Schema(zodToJsonSchema(chartValuesSchema));
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'gochive chart values',
    ...top,
    properties: {
      ...(top.properties as JsonSchema),
      policies: {
        description:
          'Archive policies; each becomes one ArchivePolicy. Entries of the original gochive values file are accepted verbatim.',
        type: 'array',
        items: { $ref: '#/definitions/policy' },
      },
    },
    definitions: { policy: entry, ...filterJsonSchemaDefinitions() },
  };
}
