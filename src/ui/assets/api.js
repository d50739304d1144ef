// A small client for the JSON API: Bearer authentication, the contract's error body turned into
// an exception, and attachment downloads into blob URLs.

/** An answer that is not a 2xx, with the contract's `errors` object when there was one. */
export class ApiError extends Error {
  constructor(status, errors) {
    super(errors?.title || `HTTP ${status}`);
    this.status = status;
    this.code = errors?.code || null;
    this.title = errors?.title || null;
    this.details = errors?.details || null;
  }

  /** The details as short lines: `message: is too long`. */
  detailLines() {
    const d = this.details;
    if (!d || typeof d !== 'object') return d ? [String(d)] : [];
    return Object.entries(d).map(([field, v]) =>
      `${field}: ${Array.isArray(v) ? v.join(', ') : typeof v === 'object' ? JSON.stringify(v) : v}`);
  }
}

/** A network failure (no answer at all). */
export class NetworkError extends Error {}

/**
 * A client bound to a base path and a token. `onUnauthorized` is called on every 401 (the
 * session or token is no longer valid).
 */
export function client({ base, token, onUnauthorized }) {
  const auth = () => ({ Authorization: `Bearer ${typeof token === 'function' ? token() : token}` });

  async function request(method, path, body, { signal } = {}) {
    const headers = { ...auth(), Accept: 'application/json' };
    const init = { method, headers, signal, cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(base + path, init);
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      throw new NetworkError(err.message);
    }
    const text = await res.text();
    let json = null;
    if (text) {
      try {
        json = JSON.parse(text);
      } catch {
        json = null;
      }
    }
    if (!res.ok) {
      if (res.status === 401 && onUnauthorized) onUnauthorized();
      throw new ApiError(res.status, json?.errors);
    }
    return json;
  }

  /** Downloads `path` with the token; answers `{url, type}` with a blob URL the caller revokes. */
  async function blob(path) {
    let res;
    try {
      res = await fetch(base + path, { headers: auth(), cache: 'no-store' });
    } catch (err) {
      throw new NetworkError(err.message);
    }
    if (!res.ok) {
      if (res.status === 401 && onUnauthorized) onUnauthorized();
      throw new ApiError(res.status, null);
    }
    const data = await res.blob();
    return { url: URL.createObjectURL(data), type: data.type };
  }

  return {
    get: (path, opts) => request('GET', path, undefined, opts),
    post: (path, body, opts) => request('POST', path, body, opts),
    blob,
  };
}

/** `?a=1&b=2` from an object, skipping empty values; keys are sent as given (`filter[x]`). */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}
