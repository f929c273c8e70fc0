// Constants shared by the client modules.

export const DEFAULT_IO_URL = "/vendor/socket.io-client/socket.io.esm.min.js";

export const STATES = Object.freeze({
  IDLE: "idle",
  CONNECTING: "connecting",
  SYNCING: "syncing",
  CONNECTED: "connected",
  RECONNECTING: "reconnecting",
  OFFLINE: "offline",
  POLLING: "polling",
  UNAUTHORIZED: "unauthorized",
  CLOSED: "closed",
});

export const AUTH_CODES = new Set(["auth_failed", "auth_required"]);
// Message refusals that a resend cannot fix: the item is dropped from the queue.
export const PERMANENT_SEND_CODES = new Set([
  "invalid_message_format",
  "room_access_denied",
  "forbidden",
  "not_found",
  "conflict",
]);
