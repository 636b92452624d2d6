/**
 * Credentials never leave weft in text: a git or store URL may carry a user and password
 * (`https://TOKEN@host/repo`) or a token in its query (`?access_token=...`). Everything that shows
 * or logs a URL passes it through here. Pure.
 */

const HIDDEN = '***';

/** Query parameter names that carry secrets (GitHub, GitLab, S3-style signatures, passwords). */
const SECRET_PARAM = /token|secret|passw|pwd|^pass$|key|auth|sig|credential|session|cookie|ticket/i;

/** `scheme://USERINFO@`: userinfo ends at the first "@" of the authority (before any "/", "?", "#"). */
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^/?#\s@"'<>]*@/gi;
/** A query parameter `name=value` after "?", "&" or ";". */
const PARAM = /([?&;])([^=&#\s"'<>]+)=([^&#;\s"'<>]*)/g;

/** A URL (or any text holding URLs) with userinfo and secret-looking query values replaced by ***. */
export function redactSecrets(text: string): string {
  if (!text.includes('@') && !text.includes('=')) return text;
  return text.replace(USERINFO, `$1${HIDDEN}@`).replace(PARAM, (whole, sep: string, name: string, value: string) => {
    if (value === '' || !SECRET_PARAM.test(name)) return whole;
    return `${sep}${name}=${HIDDEN}`;
  });
}

/** Every string in a JSON-like value redacted (a copy; other values unchanged). */
export function redactDeep<T>(value: T): T {
  if (typeof value === 'string') return redactSecrets(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => redactDeep(v)) as T;
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v)])) as T;
  }
  return value;
}
