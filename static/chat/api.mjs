/* The chat's HTTP calls (same-origin JSON). */

/** GET the conversation snapshot. Returns {status, snapshot} (snapshot only when 200); throws
 * when the server can't be reached or answers something unexpected (the caller retries). */
export async function fetchSnapshot(conversationId) {
  const response = await fetch(`/api/conversations/${conversationId}/`, {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  });
  if (response.status === 401 || response.status === 404) return { status: response.status, snapshot: null };
  if (!response.ok) throw new Error(String(response.status));
  return { status: response.status, snapshot: await response.json() };
}

/** Whether the session is still signed in. An unreachable server counts as yes: the socket
 * keeps trying. */
export async function sessionAlive() {
  try {
    const response = await fetch("/api/conversations/", {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    return response.status !== 401;
  } catch (err) {
    return true;
  }
}

/** POST a reply's rating; returns the stored rating, or throws. `extra` may carry a thumbs
 * down's `reason` ("harmful", "made_up", "other") and `report: true` (send it to the review
 * queue). */
export async function saveRating(messageId, value, comment, csrfToken, extra = {}) {
  const response = await fetch(`/api/messages/${messageId}/rating`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken, Accept: "application/json" },
    body: JSON.stringify({ value, comment, ...extra }),
  });
  if (!response.ok) throw new Error(String(response.status));
  return response.json();
}

/** GET the user's conversations, newest first; `query` searches titles and text. Throws on failure. */
export async function listConversations(query = "") {
  const url = query ? `/api/conversations/?q=${encodeURIComponent(query)}` : "/api/conversations/";
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(String(response.status));
  return (await response.json()).conversations;
}

async function post(url, body, csrfToken) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken, Accept: "application/json" },
    body: JSON.stringify(body || {}),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw Object.assign(new Error(data.detail || String(response.status)), { status: response.status });
  return data;
}

/** Rename a conversation; returns {id, title}; throws with the server's reason. */
export function renameConversation(conversationId, title, csrfToken) {
  return post(`/api/conversations/${conversationId}/rename`, { title }, csrfToken);
}

/** Delete (hide) a conversation. */
export function deleteConversation(conversationId, csrfToken) {
  return post(`/api/conversations/${conversationId}/delete`, {}, csrfToken);
}

/** The user saw this conversation's review decisions (its badge goes). */
export function markSeen(conversationId, csrfToken) {
  return post(`/api/conversations/${conversationId}/seen`, {}, csrfToken);
}
