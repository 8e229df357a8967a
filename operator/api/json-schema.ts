// Turns the zod schema's JSON Schema (z.toJSONSchema) into the two dialects gochive ships:
//  - the Kubernetes structural OpenAPI v3 subset for the CRD (no $schema/$ref/anyOf-of-types, int-or-string
//    as x-kubernetes-int-or-string, free-form objects as x-kubernetes-preserve-unknown-fields);
//  - plain draft-07 for the chart's values.schema.json (no x-kubernetes-* keys).
// Schema metadata may carry `x-gochive-jsonschema`: extra draft-07 keywords (if/then, oneOf…) for rules
// that JSON Schema can express but the CRD expresses with CEL instead.
import { z } from 'zod';

export type JsonSchema = { [key: string]: unknown };

/** The input-side JSON Schema of a zod schema (defaults optional, as a user writes it). */
export function zodToJsonSchema(schema: z.ZodType): JsonSchema {
  return z.toJSONSchema(schema, { io: 'input', target: 'draft-7', unrepresentable: 'throw' }) as JsonSchema;
}

/** Keys of apiextensions.k8s.io/v1 JSONSchemaProps that gochive uses; anything else is a generator bug. */
const K8S_KEYS = new Set([
  'type',
  'format',
  'description',
  'default',
  'enum',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'uniqueItems',
  'required',
  'properties',
  'items',
  'additionalProperties',
  'nullable',
  'x-kubernetes-int-or-string',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-validations',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
]);

const SAFE_INT = Number.MAX_SAFE_INTEGER;

function isObj(v: unknown): v is JsonSchema {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Folds `anyOf: [{type: integer, …}, {type: string, …}]` into one node's value validations. */
function foldIntOrString(node: JsonSchema): JsonSchema {
  const { anyOf, ...rest } = node;
  if (!Array.isArray(anyOf)) return node;
  const types = anyOf.map((a: JsonSchema) => a.type).sort();
  if (anyOf.length !== 2 || types[0] !== 'integer' || types[1] !== 'string') {
    throw new Error(
      `anyOf other than integer|string cannot be expressed in a structural schema: ${JSON.stringify(node)}`,
    );
  }
  const out: JsonSchema = { ...rest };
  for (const alt of anyOf as JsonSchema[]) {
    for (const [k, v] of Object.entries(alt)) if (k !== 'type') out[k] = v;
  }
  out['x-kubernetes-int-or-string'] = true;
  return out;
}

/** Structural-schema node for the CRD. */
export function toKubernetesSchema(node: JsonSchema, path = '$'): JsonSchema {
  let n: JsonSchema = { ...node };
  delete n.$schema;
  delete n['x-gochive-jsonschema'];
  if (n.anyOf) n = foldIntOrString(n);
  if (n['x-gochive-cel-replaces-pattern']) {
    // The CEL rules beside it check the pattern with a readable message (see schema.ts).
    if (!Array.isArray(n['x-kubernetes-validations']))
      throw new Error(`${path}: pattern replaced by CEL but no CEL rules`);
    delete n.pattern;
    delete n['x-gochive-cel-replaces-pattern'];
  }
  if (n['x-kubernetes-preserve-unknown-fields']) {
    // Free-form: keep only what describes the node itself; its contents are not schema-checked.
    delete n.additionalProperties;
    delete n.propertyNames;
  }
  if (n.additionalProperties === false) delete n.additionalProperties; // pruning + strict field validation do this
  if (n.maximum === SAFE_INT) delete n.maximum;
  if (n.minimum === -SAFE_INT) delete n.minimum;
  if (n.format === 'date-time') delete n.pattern; // the API server checks the format itself
  if (isObj(n.properties)) {
    n.properties = Object.fromEntries(
      Object.entries(n.properties).map(([k, v]) => [k, toKubernetesSchema(v as JsonSchema, `${path}.${k}`)]),
    );
  }
  if (isObj(n.items)) n.items = toKubernetesSchema(n.items, `${path}[]`);
  if (isObj(n.additionalProperties))
    n.additionalProperties = toKubernetesSchema(n.additionalProperties, `${path}{}`);
  for (const k of Object.keys(n)) {
    if (!K8S_KEYS.has(k))
      throw new Error(`${path}: keyword ${k} is not allowed in a CRD schema (${JSON.stringify(n[k])})`);
  }
  return n;
}

/** Draft-07 node for the chart's values.schema.json. */
export function toDraft7Schema(node: JsonSchema): JsonSchema {
  const n: JsonSchema = {};
  for (const [k, v] of Object.entries(node)) {
    if (k.startsWith('x-kubernetes-') || k === '$schema') continue;
    if (k.startsWith('x-gochive-')) continue;
    if (k === 'format' && v !== 'date-time') continue; // int64 etc. are OpenAPI formats, not draft-07
    n[k] = v;
  }
  // A Kubernetes list-type set refuses duplicates; draft-07 says the same with uniqueItems (which a CRD
  // schema may not use, hence the list-type as the single source).
  if (node['x-kubernetes-list-type'] === 'set') n.uniqueItems = true;
  if (n.maximum === SAFE_INT) delete n.maximum;
  if (n.minimum === -SAFE_INT) delete n.minimum;
  if (isObj(n.properties)) {
    n.properties = Object.fromEntries(
      Object.entries(n.properties).map(([k, v]) => [k, toDraft7Schema(v as JsonSchema)]),
    );
  }
  if (isObj(n.items)) n.items = toDraft7Schema(n.items);
  if (isObj(n.additionalProperties)) n.additionalProperties = toDraft7Schema(n.additionalProperties);
  if (Array.isArray(n.anyOf)) n.anyOf = n.anyOf.map((a: JsonSchema) => toDraft7Schema(a));
  const extra = node['x-gochive-jsonschema'];
  if (isObj(extra)) Object.assign(n, extra);
  return n;
}
