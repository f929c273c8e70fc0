// Per-message state (PROTOCOL.md 9.1): edits, tombstones, boosts, mentions, and the per-room
// `rev` cursor that lets a reconnecting client catch up with changes it missed.
//
// Every `MessageUpdated` carries the whole current message, so applying one is idempotent:
// a message is replaced only by a higher `rev` of itself. The rev cursor of a room is the
// highest rev up to which this client has seen every change; it is persisted beside
// `last_seen` and sent as `last_rev` on (re)connect. A live rev that jumps past the cursor
// means changes were missed: they are fetched with `GET .../messages?after_rev=cursor`.

import { enc } from "./http.js";

const PAGE = 200;

/** CampfireClient methods: apply and make changes to sent messages. */
export class Messages {
  static socketEvents = {
    MessageUpdated(d) {
      if (d?.message) this._applyUpdate(d.room_id || d.message.room_id, d.message, this._syncing ? "replay" : "live");
    },
  };

  /** The message with this id in a room's loaded timeline, or null. */
  getMessage(roomId, messageId) {
    const tl = this._timelines.get(roomId);
    if (!tl) return null;
    return tl.messages.find((m) => m.id === messageId) || [...tl.held.values()].find((m) => m.id === messageId) || null;
  }

  /** {room_id: rev} for every room with a rev cursor: sent as `last_rev` on (re)connect. */
  getRevCursors() {
    const out = { ...this._storedRevs };
    for (const [roomId, rev] of this._revCursors) out[roomId] = rev;
    return out;
  }

  getRevCursor(roomId) {
    return this._revCursors.get(roomId) ?? this._storedRevs[roomId] ?? null;
  }

  /** Edit one of your messages; resolves with the message as it now is. */
  async editMessage(roomId, messageId, content, { mentionIds } = {}) {
    const body = { content };
    if (mentionIds !== undefined) body.mention_ids = mentionIds;
    return this._change("EditMessage", "PATCH", roomId, messageId, "", body);
  }

  /** Delete a message (yours, or any as an admin): it becomes a tombstone. */
  async deleteMessage(roomId, messageId) {
    return this._change("DeleteMessage", "DELETE", roomId, messageId, "", null);
  }

  /** Boost a message with up to 16 characters (an emoji, a word). */
  async addBoost(roomId, messageId, content) {
    return this._change("AddBoost", "POST", roomId, messageId, "/boosts", { content });
  }

  async removeBoost(roomId, messageId, boostId) {
    return this._change("RemoveBoost", "DELETE", roomId, messageId, `/boosts/${enc(boostId)}`, null, {
      boost_id: boostId,
    });
  }

  /** Over the socket when connected (the ack is MessageUpdated), else over HTTP. */
  async _change(event, method, roomId, messageId, tail, body, extra = {}) {
    if (this.connected) {
      const env = await this._emitSocketAck(event, { message_id: messageId, room_id: roomId, ...(body || {}), ...extra });
      if (env?.type === "MessageUpdated") {
        this._applyUpdate(env.data.room_id, env.data.message, "ack");
        return env.data.message;
      }
      const data = env?.data || {};
      throw Object.assign(new Error(data.message || data.error || "change refused"), { code: data.code || "internal_error" });
    }
    const path = `/api/rooms/${enc(roomId)}/messages/${enc(messageId)}${tail}`;
    const data = await this._http(method, path, body || undefined);
    if (data?.message) {
      this._applyUpdate(roomId, data.message, "http");
      return data.message;
    }
    // 204: the broadcast (or the next poll) brings the new state; fetch it now for this client.
    await this._fillRevGap(roomId);
    return this.getMessage(roomId, messageId);
  }

  /** Apply a message's current state if it is newer than what we hold (by `rev`). */
  _applyUpdate(roomId, message, source) {
    roomId = roomId || message?.room_id;
    if (!roomId || !message?.id) return;
    const rev = message.rev ?? 0;
    const tl = this._timeline(roomId);
    const i = tl.messages.findIndex((m) => m.id === message.id);
    if (i >= 0) {
      if ((tl.messages[i].rev ?? 0) < rev) {
        tl.messages[i] = message;
        this.emit("messageUpdated", { message, room_id: roomId, rev, source });
      }
    } else if (tl.held.has(message.seq)) {
      if ((tl.held.get(message.seq).rev ?? 0) < rev) tl.held.set(message.seq, message);
    } else if (tl.cursor == null || message.seq > tl.cursor) {
      // Not received yet (the change overtook its NewMessage): it is the whole message.
      this._ingest(roomId, message, source);
    }
    // Otherwise it is older than what is loaded; history brings its current state when asked.
    this._noteRev(roomId, rev);
  }

  /** Called by sync on a duplicate message: a fetched copy may be newer than the held one. */
  _mergeNewer(roomId, message, source) {
    const current = this.getMessage(roomId, message.id);
    if (current && (current.rev ?? 0) < (message.rev ?? 0)) this._applyUpdate(roomId, message, source);
  }

  _noteRev(roomId, rev) {
    if (!(rev > 0)) return;
    const cursor = this.getRevCursor(roomId);
    if (cursor != null && rev <= cursor) return;
    let seen = this._revSeen.get(roomId);
    if (!seen) this._revSeen.set(roomId, (seen = new Set()));
    seen.add(rev);
    if (this._syncing || cursor == null) return; // SyncComplete sets the cursor
    this._advanceRev(roomId, cursor);
    if (this.getRevCursor(roomId) < Math.max(...seen, 0)) this._scheduleRevGap(roomId);
  }

  /** Move the room's rev cursor to `base` (never back), then past the revs seen after it. */
  _advanceRev(roomId, base) {
    const seen = this._revSeen.get(roomId) || new Set();
    const current = this.getRevCursor(roomId);
    let next = Math.max(base, current ?? 0);
    while (seen.has(next + 1)) seen.delete(++next);
    for (const r of seen) if (r <= next) seen.delete(r);
    if (next !== current || !this._revCursors.has(roomId)) {
      this._revCursors.set(roomId, next);
      this._saveRevs();
    }
  }

  /** SyncComplete: the server's rev for each room; fill from our cursor if the replay was cut. */
  _revsSynced(rooms, truncated) {
    for (const r of rooms || []) {
      if (r?.room_id == null || typeof r.last_rev !== "number") continue;
      const cursor = this.getRevCursor(r.room_id);
      if (truncated && cursor != null && cursor < r.last_rev) {
        this._revCursors.set(r.room_id, cursor);
        this._fillRevGap(r.room_id);
        continue;
      }
      this._advanceRev(r.room_id, Math.max(cursor ?? 0, r.last_rev));
    }
  }

  _scheduleRevGap(roomId) {
    if (this._revTimers.has(roomId)) return;
    const timer = this._t.setTimeout(() => {
      this._revTimers.delete(roomId);
      this._fillRevGap(roomId);
    }, this.gapFillDelayMs);
    this._revTimers.set(roomId, timer);
  }

  /** Fetch every change after our rev cursor (`after_rev`), page by page. */
  async _fillRevGap(roomId) {
    if (this._revFetching.has(roomId)) return;
    this._revFetching.add(roomId);
    try {
      for (let round = 0; round < 50; round++) {
        const after = this.getRevCursor(roomId) ?? 0;
        const data = await this._http("GET", `/api/rooms/${enc(roomId)}/messages?after_rev=${after}&limit=${PAGE}`);
        const messages = data?.messages || [];
        let top = after;
        for (const m of messages) {
          this._applyUpdate(roomId, m, "http");
          top = Math.max(top, m.rev ?? 0);
        }
        // Everything up to the highest rev returned is accounted for: a rev not in the answer
        // belongs to a message changed again later, whose later rev is.
        this._advanceRev(roomId, top);
        if (messages.length < PAGE) break;
      }
    } catch (err) {
      this._log("rev gap fill failed", roomId, err?.message);
    } finally {
      this._revFetching.delete(roomId);
    }
  }

  _loadRevs() {
    try {
      const parsed = JSON.parse(this._storage.getItem(this._revKey) || "{}");
      const out = {};
      for (const [k, v] of Object.entries(parsed || {})) if (Number.isInteger(v) && v >= 0) out[k] = v;
      return out;
    } catch {
      return {};
    }
  }

  _saveRevs(removedRoomId) {
    const merged = this._loadRevs();
    for (const [roomId, rev] of Object.entries(this.getRevCursors())) merged[roomId] = Math.max(rev, merged[roomId] ?? -1);
    if (removedRoomId) {
      delete merged[removedRoomId];
      this._revCursors.delete(removedRoomId);
      delete this._storedRevs[removedRoomId];
    }
    try {
      this._storage.setItem(this._revKey, JSON.stringify(merged));
    } catch {
      // ignore quota errors
    }
  }
}
