// People and rooms beyond chatting (PROTOCOL.md 9.3, 9.6): first run, join links, the room
// directory, direct conversations, profiles and avatars, admin actions, bots.

import { CampfireHttpError, defaultBaseUrl, enc, httpJson, joinUrl } from "./http.js";

function unauthenticated(path, body, { baseUrl, fetch: fetchFn } = {}) {
  const f = fetchFn || globalThis.fetch.bind(globalThis);
  return httpJson(f, joinUrl(baseUrl ?? defaultBaseUrl(), path), body === undefined ? {} : { method: "POST", body });
}

/** GET /api/setup: {needed} — true on a fresh install, before anyone exists. */
export function setupStatus(options) {
  return unauthenticated("/api/setup", undefined, options);
}

/** POST /api/setup {name, email_address, password}: the first admin, signed in ({token, user}). */
export function setupFirstRun(person, options) {
  return unauthenticated("/api/setup", person, options);
}

/** POST /api/join/{code} {name, email_address, password}: a new member, signed in. */
export function joinWithCode(code, person, options) {
  return unauthenticated(`/api/join/${enc(code)}`, person, options);
}

/** CampfireClient methods. */
export class People {
  static socketEvents = {
    UserUpdated(d) {
      if (!d?.user) return;
      if (d.user.id === (this.user?.id || this.userId)) this.user = { ...(this.user || {}), ...d.user };
      this.emit("userUpdated", d);
    },
  };

  /** GET /api/rooms/open: every open room, each with `member` and `member_count`. */
  async openRooms() {
    const data = await this._http("GET", "/api/rooms/open");
    return data?.rooms || [];
  }

  async deleteRoom(roomId) {
    await this._http("DELETE", `/api/rooms/${enc(roomId)}`);
    this._removeRoom(roomId);
  }

  /** The direct room with these people (made if it does not exist yet). */
  async startDirect(userIds, name = "Direct message") {
    return this.createRoom({ name, kind: "direct", member_ids: userIds });
  }

  async updateMe(fields) {
    const data = await this._http("PATCH", "/api/me", fields);
    if (data?.user) this.user = { ...(this.user || {}), ...data.user };
    return data?.user;
  }

  /** PUT /api/me/avatar with a File or Blob (an image of at most 5 MB). */
  async uploadAvatar(file) {
    const res = await this._fetch(joinUrl(this.baseUrl, "/api/me/avatar"), {
      method: "PUT",
      headers: { Authorization: `Bearer ${this.token}`, "Content-Type": file.type || "application/octet-stream" },
      body: file,
    });
    const data = await res.json().catch(() => null);
    if (!res.ok) throw new CampfireHttpError(res.status, data?.code, data?.error);
    if (data?.user) this.user = { ...(this.user || {}), ...data.user };
    return data?.user;
  }

  async removeAvatar() {
    const data = await this._http("DELETE", "/api/me/avatar");
    if (data?.user) this.user = { ...(this.user || {}), ...data.user };
    return data?.user;
  }

  /** Absolute URL of a user's avatar (avatar_url is relative to the server). */
  avatarUrl(user) {
    return user?.avatar_url ? joinUrl(this.baseUrl, user.avatar_url) : null;
  }

  async joinCode() {
    return this._http("GET", "/api/account/join_code");
  }

  async rotateJoinCode() {
    return this._http("POST", "/api/account/join_code");
  }

  async setRole(userId, role) {
    const data = await this._http("PATCH", `/api/users/${enc(userId)}`, { role });
    return data?.user;
  }

  async deactivateUser(userId) {
    await this._http("DELETE", `/api/users/${enc(userId)}`);
  }

  async listBots() {
    const data = await this._http("GET", "/api/bots");
    return data?.bots || [];
  }

  /** {user, webhook_url, bot_key}: the key is shown only now. */
  async createBot({ name, webhook_url } = {}) {
    const body = { name };
    if (webhook_url) body.webhook_url = webhook_url;
    return this._http("POST", "/api/bots", body);
  }

  async updateBot(botId, fields) {
    return this._http("PATCH", `/api/bots/${enc(botId)}`, fields);
  }

  async rotateBotKey(botId) {
    return this._http("POST", `/api/bots/${enc(botId)}/key`);
  }

  async deleteBot(botId) {
    await this._http("DELETE", `/api/bots/${enc(botId)}`);
  }
}
