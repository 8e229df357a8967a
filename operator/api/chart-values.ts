// The chart's values (charts/gochive/values.yaml), as a JSON Schema for values.schema.json. Policy
// entries reuse the ArchivePolicy spec schema strictly (an original values entry verbatim is valid);
// chart-level keys are typed where they are known and otherwise left open, so a chart change does not
// need a schema change first.
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

const open = <T extends z.ZodRawShape>(shape: T, description: string) =>
  z.looseObject(shape).optional().describe(description);
const secretKeyName = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[-._a-zA-Z0-9]+$/);

/** Chart-level values other than `policies`. */
export const chartValuesSchema = z.looseObject({
  image: open(
    {
      repository: z.string().min(1).optional().describe('Image repository.'),
      tag: z.string().optional().describe('Image tag; empty means the chart appVersion.'),
      pullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).optional().describe('Image pull policy.'),
    },
    'Operator image.',
  ),
  imagePullSecrets: z
    .array(z.looseObject({ name: z.string() }))
    .optional()
    .describe('Image pull secrets.'),
  replicaCount: z
    .number()
    .int()
    .min(0)
    .max(100)
    .optional()
    .describe('Operator replicas; they split the policies between them through Leases.'),
  mongodb: open(
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
      existingSecret: z
        .string()
        .optional()
        .describe('Secret (in the release namespace) with the MongoDB username and password.'),
      usernameKey: secretKeyName.optional().describe('Key of the username in the Secret.'),
      passwordKey: secretKeyName.optional().describe('Key of the password in the Secret.'),
      externalSecret: open(
        {
          enabled: z
            .boolean()
            .optional()
            .describe('Create an ExternalSecret (external-secrets.io) that fills the credentials Secret.'),
        },
        'ExternalSecret producing the credentials Secret, as the original chart used.',
      ),
    },
    'How policies with hostAddress connect to MongoDB.',
  ),
  resources: z.looseObject({}).optional().describe('Operator container resources.'),
  spool: open(
    {
      sizeLimit: z
        .union([z.string(), z.number()])
        .optional()
        .describe('emptyDir size limit of the spool volume, e.g. 10Gi.'),
    },
    'Local spool volume shared by the policies of one replica.',
  ),
  metrics: open(
    {
      serviceMonitor: open({ enabled: z.boolean().optional() }, 'Prometheus Operator ServiceMonitor.'),
      prometheusRule: open(
        { enabled: z.boolean().optional() },
        'Prometheus Operator PrometheusRule with gochive alerts.',
      ),
    },
    'Prometheus metrics.',
  ),
  serviceAccount: open(
    {
      create: z.boolean().optional().describe('Create the ServiceAccount.'),
      name: z.string().optional().describe('ServiceAccount name; empty means the release fullname.'),
      annotations: z
        .record(z.string(), z.string())
        .optional()
        .describe('Annotations, e.g. eks.amazonaws.com/role-arn for IRSA.'),
    },
    'Operator ServiceAccount.',
  ),
  operator: open(
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
      leaseDurationSeconds: z
        .number()
        .int()
        .min(5)
        .max(3600)
        .optional()
        .describe("Per-policy Lease duration; a dead replica's policies move after it."),
    },
    'Operator settings.',
  ),
  podSecurityContext: z.looseObject({}).optional().describe('Pod securityContext.'),
  securityContext: z.looseObject({}).optional().describe('Container securityContext.'),
  nodeSelector: z.record(z.string(), z.string()).optional().describe('Node selector.'),
  tolerations: z.array(z.looseObject({})).optional().describe('Tolerations.'),
  affinity: z.looseObject({}).optional().describe('Affinity.'),
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
