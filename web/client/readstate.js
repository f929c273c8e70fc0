// Read state, involvement, visibility and Web Push subscriptions (PROTOCOL.md 9.2).
//
// The server keeps `last_read_seq` per membership; rooms arrive with `last_seq`,
// `last_read_seq`, `unread_count`, `mentioned` and `involvement` (AuthSuccess, GET /api/rooms).
// Those counts are a base at the room's `last_seq`; messages that arrive later are counted
// from the timeline. `RoomRead` from another tab or device moves `last_read_seq` here too.

import { enc } from "./http.js";

// MarkRead is sent at most this often per room (a busy room must not turn into a write per
// message per reader); the local state moves at once.
const MARK_READ_EVERY_MS = 1000;

/** CampfireClient methods: read state and notifications. */
export class ReadState {
  static socketEvents = {
    RoomRead(d) {
      if (d?.room_id && Number.isInteger(d.last_read_seq)) this._applyRead(d.room_id, d.last_read_seq);
    },
  };

  /** The room's read position (0 when unknown). Sending marks read for the sender, so the
   * user's own newest message counts as read up to it. */
  getLastRead(roomId) {
    const me = this.user?.id || this.userId;
    let read = this.rooms.get(roomId)?.last_read_seq ?? 0;
    for (const m of this.getMessages(roomId)) if (m.creator_id === me && m.seq > read) read = m.seq;
    return read;
  }

  _roomLastSeq(roomId) {
    return Math.max(this.getLastSeq(roomId), this.rooms.get(roomId)?.last_seq ?? 0);
  }

  /** Messages after the read position by others, tombstones excluded. */
  unreadCount(roomId) {
    const room = this.rooms.get(roomId);
    if (!room) return 0;
    const read = this.getLastRead(roomId);
    if (read >= this._roomLastSeq(roomId)) return 0;
    const base = Number.isInteger(room.last_seq) ? room.last_seq : 0;
    const me = this.user?.id || this.userId;
    let count = read >= base ? 0 : room.unread_count ?? 0;
    for (const m of this.getMessages(roomId)) {
      if (m.seq > base && m.seq > read && m.creator_id !== me && !m.deleted) count += 1;
    }
    return count;
  }

  /** True when an unread message mentions the signed-in user. */
  isMentioned(roomId) {
    const room = this.rooms.get(roomId);
    if (!room) return false;
    const read = this.getLastRead(roomId);
    if (read >= this._roomLastSeq(roomId)) return false;
    const base = Number.isInteger(room.last_seq) ? room.last_seq : 0;
    if (room.mentioned && read < base) return true;
    const me = this.user?.id || this.userId;
    return this.getMessages(roomId).some(
      (m) => m.seq > read && m.seq > base && !m.deleted && m.creator_id !== me && (m.mention_ids || []).includes(me),
    );
  }

  /** Mark the room read up to `seq` (default: its last message); only ever moves forward. */
  markRead(roomId, seq = this._roomLastSeq(roomId)) {
    const room = this.rooms.get(roomId);
    if (!room || !(seq > (room.last_read_seq ?? 0))) return;
    this._applyRead(roomId, seq);
    this._readOutbox ??= new Map();
    this._readOutbox.set(roomId, Math.max(seq, this._readOutbox.get(roomId) ?? 0));
    this._readTimer ??= this._t.setTimeout(() => this._flushReads(), this._readSent ? MARK_READ_EVERY_MS : 0);
    this._readSent = true;
  }

  async _flushReads() {
    this._readTimer = null;
    const pending = this._readOutbox || new Map();
    this._readOutbox = new Map();
    for (const [roomId, seq] of pending) {
      try {
        if (this.connected) {
          const env = await this._emitSocketAck("MarkRead", { room_id: roomId, seq });
          if (env?.type === "RoomRead") this._applyRead(roomId, env.data.last_read_seq);
        } else {
          const data = await this._http("POST", `/api/rooms/${enc(roomId)}/read`, { seq });
          if (data) this._applyRead(roomId, data.last_read_seq);
        }
      } catch (err) {
        this._log("mark read failed", roomId, err);
      }
    }
    // Quiet for a while: the next mark goes out at once.
    this._t.setTimeout(() => {
      if (!this._readTimer) this._readSent = false;
    }, MARK_READ_EVERY_MS);
  }

  _applyRead(roomId, seq) {
    const room = this.rooms.get(roomId);
    if (!room || seq <= (room.last_read_seq ?? 0)) return;
    const base = Number.isInteger(room.last_seq) ? room.last_seq : 0;
    const update = { last_read_seq: seq };
    // Read past the base: what remains unread is all in the timeline (or, if it was not
    // loaded, the server's next room list tells; refresh it when that matters).
    if (seq >= base) Object.assign(update, { unread_count: 0, mentioned: false });
    else if (this.getMessages(roomId).every((m) => m.seq > seq + 1) && (room.unread_count ?? 0) > 0) {
      this._refreshReadSoon();
    }
    this.rooms.set(roomId, { ...room, ...update });
    this.emit("read", { room_id: roomId, last_read_seq: seq });
  }

  _refreshReadSoon() {
    if (this._readRefresh) return;
    this._readRefresh = this._t.setTimeout(() => {
      this._readRefresh = null;
      this.refreshRooms().catch(() => {});
    }, 500);
  }

  /** PATCH .../membership: everything, mentions, nothing or invisible. */
  async setInvolvement(roomId, involvement) {
    const data = await this._http("PATCH", `/api/rooms/${enc(roomId)}/membership`, { involvement });
    if (data?.room) this._updateRoom(data.room);
    return data?.room;
  }

  /** Report whether this page is visible; pushes go only to people with no visible page. */
  setVisible(visible) {
    this._visible = Boolean(visible);
    if (!this.connected) return Promise.resolve(null);
    return this._emitSocketAck("Visibility", { visible: this._visible }).catch(() => null);
  }

  async vapidPublicKey() {
    const data = await this._http("GET", "/api/push/vapid_public_key");
    return data?.key;
  }

  /** Store a PushSubscription (its toJSON()) for the signed-in user. */
  savePushSubscription(subscription) {
    const { endpoint, keys } = subscription;
    return this._http("POST", "/api/push/subscriptions", { endpoint, keys });
  }

  deletePushSubscription(endpoint) {
    return this._http("DELETE", "/api/push/subscriptions", { endpoint });
  }
}
