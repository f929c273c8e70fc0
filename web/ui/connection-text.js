// What the connection banner says: pure (no DOM), so that Node tests cover every state and refusal.

import { STATES } from "../campfire-client.js";

// Why the server refused the connection (the refusal's `code`), in words for the person using the
// page. Operators behind one NAT raise CAMPFIRE_CONNECT_RATE (docs/deploy.md).
export const REFUSALS = Object.freeze({
  rate_limit_exceeded: "Too many connection attempts from this network",
  too_many_connections: "Too many Campfire tabs or devices are open for your account (close one)",
  server_overloaded: "The server is busy",
});

function seconds(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return s === 1 ? "1 second" : `${s} seconds`;
}

/**
 * The banner for a client state: {text, retry (show the Retry button), ticking (the text counts
 * down: render again each second)}. `info` is the client's last connectionState payload.
 */
export function connectionText(state, info = {}, now = Date.now()) {
  const why = REFUSALS[info.refused];
  switch (state) {
    case STATES.IDLE:
    case STATES.CONNECTING:
      return { text: info.attempt ? `Connecting… (attempt ${info.attempt + 1})` : "Connecting…", retry: false };
    case STATES.SYNCING:
      return { text: "Catching up…", retry: false };
    case STATES.CONNECTED:
      return { text: "Up to date", retry: false };
    case STATES.RECONNECTING: {
      const when = seconds((info.retry_at ?? now) - now);
      const text = why ? `${why}. Trying again in ${when}…` : `Connection lost. Reconnecting in ${when}…`;
      return { text, retry: true, ticking: true };
    }
    case STATES.OFFLINE:
      return {
        text: `${why ? `${why}. ` : ""}Offline. Messages you write are kept and sent when you are back.`,
        retry: true,
      };
    case STATES.POLLING:
      return {
        text: `${why ? `${why}: live` : "Live"} connection unavailable: checking for new messages every few seconds.`,
        retry: true,
      };
    case STATES.UNAUTHORIZED:
      return { text: "Signed out.", retry: false };
    case STATES.CLOSED:
      return { text: "Disconnected.", retry: false };
    default:
      return { text: String(state), retry: false };
  }
}

/** The sign-in page's notice after the server ended the session (`reason` of "unauthorized"). */
export function signedOutNotice(reason) {
  if (reason === "session_revoked") return "You were signed out (from another tab or device, or by an admin). Please sign in again.";
  return "Your session has ended. Please sign in again.";
}
