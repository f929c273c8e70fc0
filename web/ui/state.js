// The UI's shared state: the session, the client, the active room, what has been read.

export const SESSION_KEY = "campfire:session";

export const app = {
  session: null, // {token, user}
  client: null,
  activeRoomId: null,
  dividerSeq: null, // the "new messages" divider goes after this seq in the open room
  notificationsStarted: false,
  bannerTimer: null,
  bannerAnnounced: null, // state|refusal last given to screen readers
  unseen: 0, // messages that arrived while the reader was scrolled up
  loadingOlder: false,
};

/** A localStorage key of the signed-in user: campfire:<user id>:<name>. */
export function userKey(name) {
  return `campfire:${app.session.user.id}:${name}`;
}
