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

/** POST a reply's rating; returns the stored rating, or throws. */
export async function saveRating(messageId, value, comment, csrfToken) {
  const response = await fetch(`/api/messages/${messageId}/rating`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken, Accept: "application/json" },
    body: JSON.stringify({ value, comment }),
  });
  if (!response.ok) throw new Error(String(response.status));
  return response.json();
}
