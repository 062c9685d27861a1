/* The console's HTTP calls (same-origin JSON). Every POST sends the CSRF token. Errors throw
 * an ApiError carrying the server's {code, detail} (a conflict: code "claimed",
 * "already_decided", ...). */

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

async function call(method, url, body) {
  let response;
  try {
    response = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: {
        Accept: "application/json",
        ...(body === undefined ? {} : { "Content-Type": "application/json", "X-CSRFToken": csrfToken() }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, "offline", "The server can't be reached. Check your connection and try again.");
  }
  let data = null;
  try {
    data = await response.json();
  } catch (err) {
    data = null;
  }
  if (!response.ok) {
    const code = (data && data.code) || String(response.status);
    const detail = (data && data.detail) || `The server answered ${response.status}.`;
    throw new ApiError(response.status, code, detail);
  }
  return data;
}

/** One page of the queue: {count, page, pages, results, stats, now}. */
export function fetchRows({ status, check, pattern, q, page }) {
  const params = new URLSearchParams({ status, page: String(page) });
  if (check) params.set("check", check);
  if (pattern) params.set("pattern", pattern);
  if (q) params.set("q", q);
  return call("GET", `/console/api/items?${params}`);
}

export const fetchItem = (id) => call("GET", `/console/api/items/${id}`);
export const claim = (id) => call("POST", `/api/reviews/${id}/claim`, {});
export const release = (id) => call("POST", `/api/reviews/${id}/release`, {});
export const decide = (id, decision, text = "") => call("POST", `/api/reviews/${id}/decision`, { decision, text });
export const addNote = (id, text) => call("POST", `/console/api/items/${id}/notes`, { text });
export const bulkDecide = (ids, decision) => call("POST", "/console/api/bulk", { ids, decision });

/** Whether the session may still use the console (false: signed out or no permission). */
export async function sessionAlive() {
  try {
    const response = await fetch("/console/api/stats", { credentials: "same-origin" });
    return response.status !== 401 && response.status !== 403;
  } catch (err) {
    return true;
  }
}
