// Allow-list of the origins the component may reach, with the syntax of the
// Rust host (host/lib/src/runtime/http_policy.rs): entries are
// `[SCHEME://]HOST[:PORT]`; a bare host means https only; default ports are
// 443 (https) and 80 (http); userinfo is refused. An entry allows exactly one
// (scheme, host, port): https never allows http to the same host, nor the
// other way round.

const DEFAULT_PORTS = { http: 80, https: 443 };

/**
 * Hide the userinfo (`user:password@`) of a URL-like string for messages.
 *
 * @param {string} raw
 * @returns {string}
 */
export function redactUserinfo(raw) {
  return String(raw).replace(/^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)?[^/?#@]*@/, (_m, scheme) => `${scheme ?? ''}***@`);
}

/**
 * Lowercase a host and canonicalise IPv6 literals (`[0:0::1]` -> `[::1]`).
 *
 * @param {string} host
 * @returns {string}
 */
function canonicalHost(host) {
  if (host.startsWith('[') && host.endsWith(']')) {
    try {
      return new URL(`http://${host}/`).hostname;
    } catch {
      return host.toLowerCase();
    }
  }
  return host.toLowerCase();
}

/**
 * Split a `host[:port]` authority (no userinfo). Returns null when malformed.
 *
 * @param {string} authority
 * @returns {{host: string, port: number | undefined} | null}
 */
function splitAuthority(authority) {
  let host;
  let rest;
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    if (end < 0) return null;
    host = authority.slice(0, end + 1);
    rest = authority.slice(end + 1);
  } else {
    const colon = authority.indexOf(':');
    host = colon < 0 ? authority : authority.slice(0, colon);
    rest = colon < 0 ? '' : authority.slice(colon);
  }
  if (host === '') return null;
  if (rest === '') return { host, port: undefined };
  const digits = rest.slice(1);
  if (!rest.startsWith(':') || !/^[0-9]{1,5}$/.test(digits)) return null;
  const port = Number(digits);
  if (port > 65535) return null;
  return { host, port };
}

/**
 * The canonical origin `scheme://host:port` of an http(s) URL (userinfo, path
 * and query ignored; the port explicit or the scheme's default).
 *
 * @param {string} raw
 * @returns {string}
 */
export function originOfUrl(raw) {
  let url;
  try {
    url = new URL(String(raw));
  } catch {
    throw new TypeError(`invalid URL \`${redactUserinfo(raw)}\``);
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') {
    throw new TypeError(`URL \`${redactUserinfo(raw)}\` must use http or https, not \`${scheme}\``);
  }
  if (url.hostname === '') {
    throw new TypeError(`URL \`${redactUserinfo(raw)}\` has no host`);
  }
  const port = url.port === '' ? DEFAULT_PORTS[scheme] : Number(url.port);
  return `${scheme}://${canonicalHost(url.hostname)}:${port}`;
}

/**
 * The canonical origin of one allow-list entry: `https://host:port`,
 * `http://host:port`, a full http(s) URL, or a bare `host[:port]` (https).
 *
 * @param {string} raw
 * @returns {string}
 */
export function canonicalEntry(raw) {
  const entry = String(raw).trim();
  if (entry.includes('@')) {
    throw new TypeError(`allowed authority \`${redactUserinfo(entry)}\` must not contain userinfo`);
  }
  if (entry.includes('://')) {
    return originOfUrl(entry);
  }
  const parts = splitAuthority(entry);
  if (parts === null) {
    throw new TypeError(`invalid allowed authority \`${entry}\``);
  }
  return `https://${canonicalHost(parts.host)}:${parts.port ?? DEFAULT_PORTS.https}`;
}

/**
 * The canonical origin a request goes to, from the `wasi:http` request's
 * scheme (`{tag: 'HTTP' | 'HTTPS' | 'other'}`, absent = https) and authority.
 * Returns null for anything that is not a plain http(s) `host[:port]`.
 *
 * @param {{tag: string, val?: string} | undefined} scheme
 * @param {string | undefined} authority
 * @returns {string | null}
 */
export function requestOrigin(scheme, authority) {
  let name;
  if (scheme === undefined || scheme === null) name = 'https';
  else if (scheme.tag === 'HTTP') name = 'http';
  else if (scheme.tag === 'HTTPS') name = 'https';
  else if (scheme.tag === 'other' && typeof scheme.val === 'string') name = scheme.val.toLowerCase();
  else return null;
  if (name !== 'http' && name !== 'https') return null;
  if (typeof authority !== 'string' || authority.includes('@')) return null;
  const parts = splitAuthority(authority);
  if (parts === null) return null;
  return `${name}://${canonicalHost(parts.host)}:${parts.port ?? DEFAULT_PORTS[name]}`;
}

/**
 * The allow-list of one session: the engine's extra entries plus, when
 * `allowConfigHosts`, the origins of the config's API and RPC URLs.
 *
 * @param {string[]} extra Canonical engine entries.
 * @param {boolean} allowConfigHosts
 * @param {string[]} configUrls
 * @returns {string[]}
 */
export function sessionAllowList(extra, allowConfigHosts, configUrls) {
  const out = new Set(extra);
  if (allowConfigHosts) {
    for (const url of configUrls) out.add(originOfUrl(url));
  }
  return [...out];
}
