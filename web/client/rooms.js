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
    this.rooms.set(room.id, { ...(this.rooms.get(room.id) || {}), ...room });
    this._timeline(room.id);
    if (isNew && announce) this.emit("roomJoined", { room: this.rooms.get(room.id) });
    if (!quiet) this.emit("rooms", { rooms: this.getRooms() });
    if (isNew && askPresence && this.connected) this.requestPresence(room.id);
  }

  _updateRoom(room, quiet) {
    if (!this.rooms.has(room.id)) return;
    this.rooms.set(room.id, { ...this.rooms.get(room.id), ...room });
    this.emit("roomUpdated", { room: this.rooms.get(room.id) });
    if (!quiet) this.emit("rooms", { rooms: this.getRooms() });
  }

  _removeRoom(roomId, quiet) {
    if (!this.rooms.has(roomId)) return;
    this.rooms.delete(roomId);
    this._timelines.delete(roomId);
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
