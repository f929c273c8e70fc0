// HTTP: the JSON fetch helper, its error type, signIn, and the client's authenticated calls.

/** Error of an HTTP call: status 0 is a network failure. */
export class CampfireHttpError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message || code || `HTTP ${status}`);
    this.name = "CampfireHttpError";
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

export async function httpJson(fetchFn, url, { method = "GET", token, body, timeoutMs = 15000 } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const init = { method, headers };
  if (body !== undefined) init.body = JSON.stringify(body);
  if (timeoutMs && typeof AbortSignal !== "undefined" && AbortSignal.timeout) {
    init.signal = AbortSignal.timeout(timeoutMs);
  }
  let res;
  try {
    res = await fetchFn(url, init);
  } catch (err) {
    throw new CampfireHttpError(0, "network_error", err?.message || "network error");
  }
  let data = null;
  if (res.status !== 204) {
    try {
      data = await res.json();
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const header = res.headers?.get?.("Retry-After");
    const retryAfter = data?.retry_after ?? (header != null ? Number(header) : undefined);
    throw new CampfireHttpError(
      res.status,
      data?.code || `http_${res.status}`,
      data?.error || data?.message || `HTTP ${res.status}`,
      Number.isFinite(retryAfter) ? retryAfter : undefined,
    );
  }
  return data;
}

export function joinUrl(base, path) {
  if (!base) return path;
  return base.replace(/\/+$/, "") + path;
}

export function defaultBaseUrl() {
  const loc = globalThis.location;
  return loc && loc.origin && loc.origin !== "null" ? loc.origin : "";
}

/** POST /api/session: returns {token, user}. */
export async function signIn({ email_address, password, baseUrl, fetch: fetchFn } = {}) {
  const f = fetchFn || globalThis.fetch.bind(globalThis);
  return httpJson(f, joinUrl(baseUrl ?? defaultBaseUrl(), "/api/session"), {
    method: "POST",
    body: { email_address, password },
  });
}

export function enc(s) {
  return encodeURIComponent(s);
}

/** The Error for a refused socket ack envelope ({type, data: {code, error}}). */
export function ackError(env) {
  const d = env?.data || {};
  const err = new Error(d.message || d.error || "request failed");
  err.code = d.code || "internal_error";
  err.retryAfter = d.retry_after;
  return err;
}

/** CampfireClient methods: the authenticated HTTP call and simple HTTP reads. */
export class HttpMethods {
  async _http(method, path, body) {
    try {
      return await httpJson(this._fetch, joinUrl(this.baseUrl, path), {
        method,
        token: this.token,
        body,
      });
    } catch (err) {
      if (err.status === 401 && this._started) this._unauthorized(err.code || "auth_failed");
      throw err;
    }
  }

  /** GET /api/users: the user directory ([] when the server has no such endpoint). */
  async listUsers() {
    try {
      const data = await this._http("GET", "/api/users");
      return data?.users || [];
    } catch (err) {
      if (err.status === 404 || err.status === 405 || err.status === 403) return [];
      throw err;
    }
  }

  async me() {
    const data = await this._http("GET", "/api/me");
    return data?.user;
  }
}
