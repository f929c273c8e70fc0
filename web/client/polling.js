// The HTTP polling fallback, used while the socket cannot connect but HTTP works.

import { STATES } from "./constants.js";
import { enc } from "./http.js";

/** CampfireClient methods: polling rooms, messages and presence over HTTP. */
export class Polling {
  get polling() {
    return this._polling;
  }

  _startPolling() {
    if (this._polling) return;
    this._log("socket unavailable, HTTP works: polling");
    this._polling = true;
    this._clearRemoteTyping();
    for (const [roomId] of this._myTyping) this._clearMyTyping(roomId);
    this._setState(STATES.POLLING, { interval_ms: this.pollIntervalMs, refused: this.lastConnectError?.code });
    this._pollLoop();
  }

  _stopPolling() {
    if (!this._polling) return;
    this._polling = false;
    this._t.clearTimeout(this._pollTimer);
    this._pollTimer = null;
  }

  async _pollLoop() {
    if (!this._polling) return;
    try {
      await this._pollOnce();
    } catch (err) {
      this._log("poll failed", err?.message);
      if (err?.status === 0 && this._polling) {
        // HTTP is gone too: back to reconnecting with backoff.
        this._stopPolling();
        this._httpOkFailures = 0;
        if (this._started) this._scheduleReconnect(0, "http_unreachable");
        return;
      }
    }
    if (this._polling) this._pollTimer = this._t.setTimeout(() => this._pollLoop(), this.pollIntervalMs);
  }

  async _pollOnce() {
    const data = await this._http("GET", "/api/rooms");
    if (!this._polling) return;
    this._reconcileRooms(data?.rooms || [], this._readyOnce === true);
    this._readyOnce = true;
    for (const roomId of this.rooms.keys()) {
      const tl = this._timeline(roomId);
      for (let page = 0; page < 10; page++) {
        const params = new URLSearchParams({ limit: "200" });
        if (tl.cursor != null) params.set("after_seq", String(tl.cursor));
        else params.set("limit", String(this.historyPageSize));
        const res = await this._http("GET", `/api/rooms/${enc(roomId)}/messages?${params}`);
        const messages = res?.messages || [];
        this._ingestMany(roomId, messages, "poll");
        if (tl.cursor == null || messages.length < 200) break;
      }
      await this._fillRevGap(roomId); // edits, deletes and boosts since the rev cursor
    }
    if (this._activeRoomId && this.rooms.has(this._activeRoomId)) await this._pollPresence(this._activeRoomId);
    this._pump();
  }

  async _pollPresence(roomId) {
    const data = await this._http("GET", `/api/rooms/${enc(roomId)}/presence`);
    if (data?.live === false) this._presenceOnRequest.add(roomId);
    else this._presenceOnRequest.delete(roomId);
    this._online.set(roomId, new Set(data?.online_users || []));
    this._recent.set(roomId, new Set(data?.recently_active || []));
    this._emitPresence(roomId);
  }
}
