// Rooms: the room list, kept in step with AuthSuccess, room events and HTTP.

import { ackError, enc } from "./http.js";

/** CampfireClient methods: the room list and membership. */
export class Rooms {
  static socketEvents = {
    RoomJoined(d) {
      if (d?.room) this._addRoom(d.room, true);
    },
    RoomLeft(d) {
      if (d?.room_id) this._removeRoom(d.room_id);
    },
    RoomUpdated(d) {
      if (d?.room) this._updateRoom(d.room);
    },
  };

  getRooms() {
    return [...this.rooms.values()];
  }

  getRoom(roomId) {
    return this.rooms.get(roomId) || null;
  }

  /**
   * How many members a room has. A room above the server's CAMPFIRE_ROOM_MEMBER_IDS_MAX comes
   * with `member_count` and no `member_ids` (docs/protocol-notes.md); small rooms list them.
   */
  memberCount(roomId) {
    const room = this.rooms.get(roomId);
    if (!room) return 0;
    if (Array.isArray(room.member_ids)) return room.member_ids.length;
    if (Number.isInteger(room.member_count)) return room.member_count;
    return this._memberLists?.get(roomId)?.ids?.length ?? 0;
  }

  /** A room's member ids if known now: listed with the room, or loaded by `loadMemberIds`. */
  getMemberIds(roomId) {
    const room = this.rooms.get(roomId);
    if (!room) return null;
    if (Array.isArray(room.member_ids)) return room.member_ids;
    return this._memberLists?.get(roomId)?.ids ?? null;
  }

  /**
   * A room's member ids, fetched once with GET /api/rooms/{id} (which lists everyone) when
   * the room came by count only; kept until its membership changes, then fetched again when
   * next asked for. Emits `members` {room_id, member_ids} when a fetch lands.
   */
  async loadMemberIds(roomId) {
    const known = this.getMemberIds(roomId);
    if (known || !this.rooms.has(roomId)) return known;
    const lists = (this._memberLists ??= new Map());
    const entry = lists.get(roomId);
    if (entry?.pending) return entry.pending;
    const pending = this._http("GET", `/api/rooms/${enc(roomId)}`).then(
      (data) => {
        const ids = Array.isArray(data?.room?.member_ids) ? data.room.member_ids : [];
        // Dropped meanwhile (the room changed or was left): answer, but keep nothing.
        if (lists.get(roomId)?.pending !== pending) return ids;
        lists.set(roomId, { ids });
        this.emit("members", { room_id: roomId, member_ids: ids });
        return ids;
      },
      (err) => {
        if (lists.get(roomId)?.pending === pending) lists.delete(roomId);
        throw err;
      },
    );
    lists.set(roomId, { pending });
    return pending;
  }

  async createRoom({ name, kind = "open", member_ids } = {}) {
    const body = { name, kind };
    if (member_ids) body.member_ids = member_ids;
    const data = await this._http("POST", "/api/rooms", body);
    if (data?.room) this._addRoom(data.room, true);
    return data?.room;
  }

  async renameRoom(roomId, name) {
    const data = await this._http("PATCH", `/api/rooms/${enc(roomId)}`, { name });
    if (data?.room) this._updateRoom(data.room);
    return data?.room;
  }

  async addMember(roomId, userId) {
    await this._http("POST", `/api/rooms/${enc(roomId)}/members`, { user_id: userId });
    const room = this.rooms.get(roomId);
    if (room && Array.isArray(room.member_ids) && !room.member_ids.includes(userId)) {
      this._updateRoom({ ...room, member_ids: [...room.member_ids, userId] });
    }
  }

  async removeMember(roomId, userId) {
    await this._http("DELETE", `/api/rooms/${enc(roomId)}/members/${enc(userId)}`);
    if (userId === this.user?.id || userId === this.userId) this._removeRoom(roomId);
  }

  async joinRoom(roomId) {
    if (this.connected) {
      const env = await this._emitSocketAck("JoinRoom", { room_id: roomId });
      if (env?.type !== "RoomJoined") throw ackError(env);
      this._addRoom(env.data.room, true);
      return env.data.room;
    }
    const me = this.user?.id || this.userId;
    await this._http("POST", `/api/rooms/${enc(roomId)}/members`, { user_id: me });
    await this.refreshRooms();
    return this.rooms.get(roomId) || null;
  }

  async leaveRoom(roomId) {
    if (this.connected) {
      const env = await this._emitSocketAck("LeaveRoom", { room_id: roomId });
      if (env?.type !== "RoomLeft") throw ackError(env);
      this._removeRoom(roomId);
      return;
    }
    const me = this.user?.id || this.userId;
    await this._http("DELETE", `/api/rooms/${enc(roomId)}/members/${enc(me)}`);
    this._removeRoom(roomId);
  }

  /** GET /api/rooms, reconciled with the known list (emits roomJoined / roomLeft / roomUpdated). */
  async refreshRooms() {
    const data = await this._http("GET", "/api/rooms");
    this._reconcileRooms(data?.rooms || [], true);
    return this.getRooms();
  }

  _reconcileRooms(list, announce, askPresence = true) {
    const seen = new Set();
    for (const room of list) {
      if (!room?.id) continue;
      seen.add(room.id);
      if (!this.rooms.has(room.id)) this._addRoom(room, announce, true, askPresence);
      else if (JSON.stringify(this.rooms.get(room.id)) !== JSON.stringify(room)) this._updateRoom(room, true);
    }
    for (const id of [...this.rooms.keys()]) if (!seen.has(id)) this._removeRoom(id, true);
    this.emit("rooms", { rooms: this.getRooms() });
  }

  _addRoom(room, announce, quiet, askPresence = true) {
    const isNew = !this.rooms.has(room.id);
    this._membersChanged(room);
    this.rooms.set(room.id, mergeRoom(this.rooms.get(room.id), room));
    this._timeline(room.id);
    if (isNew && announce) this.emit("roomJoined", { room: this.rooms.get(room.id) });
    if (!quiet) this.emit("rooms", { rooms: this.getRooms() });
    if (isNew && askPresence && this.connected) this.requestPresence(room.id);
  }

  _updateRoom(room, quiet) {
    if (!this.rooms.has(room.id)) return;
    this._membersChanged(room);
    this.rooms.set(room.id, mergeRoom(this.rooms.get(room.id), room));
    this.emit("roomUpdated", { room: this.rooms.get(room.id) });
    if (!quiet) this.emit("rooms", { rooms: this.getRooms() });
  }

  /** Forget a loaded member list once a new description says the membership changed. */
  _membersChanged(room) {
    const old = this.rooms.get(room.id);
    if (!this._memberLists?.has(room.id)) return;
    if (Array.isArray(room.member_ids) || (Number.isInteger(room.member_count) && room.member_count !== old?.member_count)) {
      this._memberLists.delete(room.id);
    }
  }

  _removeRoom(roomId, quiet) {
    if (!this.rooms.has(roomId)) return;
    this.rooms.delete(roomId);
    this._timelines.delete(roomId);
    this._memberLists?.delete(roomId);
    this._online.delete(roomId);
    this._recent.delete(roomId);
    this._remoteTyping.delete(roomId);
    this.lastSeq.delete(roomId);
    delete this._storedCursors[roomId];
    this._saveCursors(roomId);
    this._saveRevs(roomId);
    this.emit("roomLeft", { room_id: roomId });
    if (!quiet) this.emit("rooms", { rooms: this.getRooms() });
  }
}

/**
 * A room's new description over the old one. A room is described by `member_ids` or, when
 * big, by `member_count` alone: the one a description leaves out must not linger from before
 * (stale ids after the room grew past the bound, or a stale count after it shrank).
 */
export function mergeRoom(old, room) {
  const merged = { ...(old || {}), ...room };
  if ("member_ids" in room) delete merged.member_count;
  else if ("member_count" in room) delete merged.member_ids;
  return merged;
}
