// Removes credentials from anything that may reach a log, event, status or error message (invariant I7).

/** Replaces the userinfo part of every URI-looking substring (`scheme://user:pass@host`) with `***`. */
export function redactUri(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)([^/@\s"']+)@/gi, '$1***@');
}

/** Redacts URIs and every given secret value (passwords, keys) wherever it appears in `text`. */
export function redactSecrets(text: string, secrets: Iterable<string | undefined> = []): string {
  let out = redactUri(text);
  for (const s of secrets) {
    if (s && s.length >= 3) out = out.split(s).join('***');
  }
  return out;
}

/** A message for an unknown thrown value, redacted. */
export function errorMessage(err: unknown, secrets: Iterable<string | undefined> = []): string {
  const msg = err instanceof Error ? err.message : String(err);
  return redactSecrets(msg, secrets);
}

/** The userinfo (`user:password`) of a URI, if it has one. */
export function uriUserinfo(uri: string): string | undefined {
  return /^[a-z][a-z0-9+.-]*:\/\/([^@/]*)@/i.exec(uri)?.[1];
}

/** The password inside a URI's userinfo, raw and percent-decoded, so it is redacted in whichever form it shows up. */
export function uriPasswords(uri: string): string[] {
  const userinfo = uriUserinfo(uri);
  const colon = userinfo?.indexOf(':') ?? -1;
  if (colon < 0) return [];
  const pw = userinfo!.slice(colon + 1);
  if (!pw) return [];
  const out = [pw];
  try {
    out.push(decodeURIComponent(pw));
  } catch {
    // not valid percent-encoding: the raw form is all there is
  }
  return out;
}
