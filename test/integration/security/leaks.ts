// What a leaked secret looks like in text: the value itself and the forms it takes on its way out —
// percent-encoded in a URI, escaped inside a JSON log line, base64 as in a Secret's data.

/** Every form of `secret` that must never appear in an output channel. */
export function forbiddenForms(secret: string): string[] {
  const forms = new Set([
    secret,
    encodeURIComponent(secret),
    JSON.stringify(secret).slice(1, -1),
    Buffer.from(secret, 'utf8').toString('base64'),
  ]);
  return [...forms];
}

/** URIs in `text` whose userinfo is not redacted (`scheme://user:pass@host` rather than `scheme://***@host`). */
export function uriUserinfoLeaks(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/\b([a-z][a-z0-9+.-]*):\/\/([^\s/@"'\\<>]+)@([^\s/"'\\<>]*)/gi)) {
    if (m[2] !== '***') out.push(m[0]);
  }
  return out;
}
