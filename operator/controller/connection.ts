// Turns a policy's connection settings into the secrets a worker needs: the MongoDB URI (hostAddress
// through the operator's URI template and credentials Secret, or a full URI from uriSecretRef) and the
// optional S3 keys. The result's fingerprint changes whenever a secret value changes, which is what
// restarts a worker after a rotation; the fingerprint is a hash, never the values.
import { MongoClient } from 'mongodb';
import { createHash } from 'node:crypto';
import type { ArchivePolicySpec } from '../api/schema.js';
import { renderUriTemplate } from '../api/resolve.js';
import { errorMessage, uriPasswords } from '../util/redact.js';

export interface ConnectionSettings {
  /** e.g. mongodb://{username}:{password}@{host}:27017/ — required for policies using hostAddress. */
  uriTemplate?: string;
  /** Secret with the MongoDB username and password used in the template. */
  credentialsSecret?: { namespace: string; name: string };
  usernameKey: string;
  passwordKey: string;
}

export interface SecretRef {
  namespace: string;
  name: string;
}

export type SecretReader = (namespace: string, name: string) => Promise<Record<string, string> | undefined>;

export type Connection =
  | {
      ok: true;
      mongoUri: string;
      s3Credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
      /** Every secret value involved, for redaction (I7). */
      secretValues: string[];
      /** sha256 over the values: changes when any of them changes. */
      fingerprint: string;
    }
  | { ok: false; reason: string; message: string };

const usesCredentials = (template: string): boolean => /\{(username|password)\}/.test(template);

/** The Secrets a policy depends on (to watch them). */
export function secretRefsOf(
  spec: ArchivePolicySpec,
  namespace: string,
  settings: ConnectionSettings,
): SecretRef[] {
  const refs: SecretRef[] = [];
  if (spec.uriSecretRef) refs.push({ namespace, name: spec.uriSecretRef.name });
  else if (
    spec.hostAddress &&
    settings.credentialsSecret &&
    settings.uriTemplate &&
    usesCredentials(settings.uriTemplate)
  ) {
    refs.push(settings.credentialsSecret);
  }
  if (spec.s3.credentialsSecretRef) refs.push({ namespace, name: spec.s3.credentialsSecretRef.name });
  return refs;
}

export async function resolveConnection(
  spec: ArchivePolicySpec,
  namespace: string,
  settings: ConnectionSettings,
  read: SecretReader,
): Promise<Connection> {
  const secretValues: string[] = [];
  let mongoUri: string;
  if (spec.uriSecretRef) {
    const { name, key } = spec.uriSecretRef;
    const data = await read(namespace, name);
    if (!data)
      return {
        ok: false,
        reason: 'SecretNotFound',
        message: `spec.uriSecretRef: Secret ${namespace}/${name} does not exist; create it with key '${key}' holding the MongoDB URI`,
      };
    const uri = data[key];
    if (!uri)
      return {
        ok: false,
        reason: 'SecretKeyMissing',
        message: `spec.uriSecretRef: Secret ${namespace}/${name} has no key '${key}' (or it is empty); add the MongoDB URI under that key or set uriSecretRef.key`,
      };
    if (!/^mongodb(\+srv)?:\/\//.test(uri.trim())) {
      return {
        ok: false,
        reason: 'InvalidURI',
        message: `spec.uriSecretRef: the value of key '${key}' in Secret ${namespace}/${name} is not a mongodb:// or mongodb+srv:// URI`,
      };
    }
    mongoUri = uri.trim();
    secretValues.push(mongoUri, ...uriPasswords(mongoUri));
  } else if (spec.hostAddress) {
    if (!settings.uriTemplate) {
      return {
        ok: false,
        reason: 'NoURITemplate',
        message:
          'spec.hostAddress needs the operator to be started with --mongodb-uri-template (env GOCHIVE_MONGODB_URI_TEMPLATE); or use spec.uriSecretRef',
      };
    }
    let username: string | undefined;
    let password: string | undefined;
    if (usesCredentials(settings.uriTemplate)) {
      const cs = settings.credentialsSecret;
      if (!cs) {
        return {
          ok: false,
          reason: 'NoCredentialsSecret',
          message:
            'the operator URI template uses {username}/{password} but no --credentials-secret (env GOCHIVE_CREDENTIALS_SECRET) is configured',
        };
      }
      const data = await read(cs.namespace, cs.name);
      if (!data)
        return {
          ok: false,
          reason: 'SecretNotFound',
          message: `credentials Secret ${cs.namespace}/${cs.name} (--credentials-secret) does not exist; create it with keys '${settings.usernameKey}' and '${settings.passwordKey}'`,
        };
      username = data[settings.usernameKey];
      password = data[settings.passwordKey];
      const missing: string[] = [];
      if (!username && settings.uriTemplate.includes('{username}')) missing.push(settings.usernameKey);
      if (!password && settings.uriTemplate.includes('{password}')) missing.push(settings.passwordKey);
      if (missing.length > 0) {
        return {
          ok: false,
          reason: 'SecretKeyMissing',
          message: `credentials Secret ${cs.namespace}/${cs.name} has no key ${missing.map((k) => `'${k}'`).join(' or ')} (or it is empty)`,
        };
      }
      if (password) secretValues.push(password, encodeURIComponent(password));
    }
    try {
      mongoUri = renderUriTemplate(settings.uriTemplate, { host: spec.hostAddress, username, password });
    } catch (err) {
      return { ok: false, reason: 'InvalidURITemplate', message: errorMessage(err, secretValues) };
    }
    secretValues.push(mongoUri);
  } else {
    return {
      ok: false,
      reason: 'NoConnection',
      message: 'spec: one of hostAddress or uriSecretRef is required',
    };
  }

  let s3Credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
  const ref = spec.s3.credentialsSecretRef;
  if (ref) {
    const data = await read(namespace, ref.name);
    if (!data)
      return {
        ok: false,
        reason: 'SecretNotFound',
        message: `spec.s3.credentialsSecretRef: Secret ${namespace}/${ref.name} does not exist`,
      };
    const accessKeyId = data[ref.accessKeyIdKey];
    const secretAccessKey = data[ref.secretAccessKeyKey];
    if (!accessKeyId || !secretAccessKey) {
      const missing = [
        accessKeyId ? '' : ref.accessKeyIdKey,
        secretAccessKey ? '' : ref.secretAccessKeyKey,
      ].filter(Boolean);
      return {
        ok: false,
        reason: 'SecretKeyMissing',
        message: `spec.s3.credentialsSecretRef: Secret ${namespace}/${ref.name} has no key ${missing.map((k) => `'${k}'`).join(' or ')}`,
      };
    }
    s3Credentials = { accessKeyId, secretAccessKey };
    secretValues.push(secretAccessKey);
    if (ref.sessionTokenKey) {
      const token = data[ref.sessionTokenKey];
      if (!token)
        return {
          ok: false,
          reason: 'SecretKeyMissing',
          message: `spec.s3.credentialsSecretRef: Secret ${namespace}/${ref.name} has no key '${ref.sessionTokenKey}' (sessionTokenKey)`,
        };
      s3Credentials.sessionToken = token;
      secretValues.push(token);
    }
  }

  // A URI the driver cannot parse would make the worker fail and restart forever while the policy
  // looks Pending: refuse it here, naming where it came from (the value itself is a secret).
  const parseError = uriParseError(mongoUri);
  if (parseError) {
    const source = spec.uriSecretRef
      ? `the value of key '${spec.uriSecretRef.key}' in Secret ${namespace}/${spec.uriSecretRef.name} (spec.uriSecretRef)`
      : `the URI built from the operator's --mongodb-uri-template, spec.hostAddress and the credentials Secret`;
    return {
      ok: false,
      reason: 'InvalidURI',
      message: `${source} is not a valid MongoDB URI: ${errorMessage(parseError, [...secretValues, mongoUri])}; fix it (percent-encode special characters in the user name and password)`,
    };
  }

  const fingerprint = createHash('sha256')
    .update(JSON.stringify([mongoUri, s3Credentials ?? null]))
    .digest('hex');
  return { ok: true, mongoUri, ...(s3Credentials ? { s3Credentials } : {}), secretValues, fingerprint };
}

/**
 * Verdicts of uriParseError by URI hash. Every reconcile resolves the connection, and building a
 * MongoClient to parse the URI was 5 % of the operator's CPU while 1,000 policies started.
 */
const parseVerdicts = new Map<string, string | undefined>();

/** Why the driver refuses the URI, or undefined. Parsing only: nothing connects. */
function uriParseError(uri: string): string | undefined {
  const key = createHash('sha256').update(uri).digest('hex');
  if (parseVerdicts.has(key)) return parseVerdicts.get(key);
  let verdict: string | undefined;
  try {
    new MongoClient(uri, { serverSelectionTimeoutMS: 1 });
  } catch (err) {
    verdict = err instanceof Error ? err.message : String(err);
  }
  if (parseVerdicts.size >= 10_000) parseVerdicts.clear(); // bounded: URIs come and go with Secrets
  parseVerdicts.set(key, verdict);
  return verdict;
}
