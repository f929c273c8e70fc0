// The connection: socket lifecycle, authentication, backoff and reconnection.

import { AUTH_CODES, STATES } from "./constants.js";

/**
 * Reconnection delay for a 0-based attempt number: 1 s doubling, capped at 30 s, minus up to
 * `jitter` (a fraction) of it at random, so that clients cut off together (a server restart)
 * do not all come back in the same millisecond.
 */
export function backoffDelay(
  attempt,
  { baseMs = 1000, maxMs = 30000, jitter = 0.5, random = Math.random } = {},
) {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt));
  return Math.max(0, Math.round(exp * (1 - jitter * random())));
}

/** CampfireClient methods: the socket, its state machine and the reconnection backoff. */
export class Connection {
  _setState(state, extra = {}) {
    const previous = this.state;
    this.state = state;
    const info = { state, previous, ...extra };
    this.stateInfo = info;
    this._log("state", previous, "->", state, extra);
    this.emit("connectionState", info);
  }

  get connected() {
    return this._authenticated && !!this._socket?.connected;
  }

  /** Start connecting. Resolves once the attempt is under way (not when authenticated). */
  async connect() {
    if (this._started) return;
    this._started = true;
    if (!this._io) {
      const mod = await import(/* @vite-ignore */ this._ioUrl);
      this._io = mod.io || mod.default;
    }
    if (!this._started) return; // closed while loading
    this._attempt = 0;
    this._httpOkFailures = 0;
    this._openSocket();
  }

  /** Close for good (no reconnection). Queued messages stay in storage. */
  close() {
    this._started = false;
    this._clearReconnect();
    this._stopPolling();
    this._t.clearTimeout(this._pumpTimer);
    for (const t of this._gapTimers.values()) this._t.clearTimeout(t);
    this._gapTimers.clear();
    for (const [roomId] of this._myTyping) this._clearMyTyping(roomId);
    this._clearRemoteTyping();
    this._authenticated = false;
    if (this._socket) {
      const s = this._socket;
      this._socket = null;
      s.removeAllListeners?.();
      s.disconnect();
    }
    if (this.state !== STATES.UNAUTHORIZED) this._setState(STATES.CLOSED);
  }

  /** Alias of close(). */
  disconnect() {
    this.close();
  }

  /** Try to connect now (the "retry" of the offline state; also cuts a backoff wait short). */
  retry() {
    if (!this._started) {
      this.connect();
      return;
    }
    if (this.connected) return;
    this._clearReconnect();
    this._attempt = 0;
    this._httpOkFailures = 0;
    this._openSocket();
  }

  /** DELETE /api/session, then close. */
  async signOut() {
    try {
      await this._http("DELETE", "/api/session");
    } finally {
      this.close();
    }
  }

  _authPayload() {
    const payload = { token: this.token };
    const cursors = this.getCursors();
    // Only rooms the user is still in (or, before AuthSuccess, every stored room).
    if (this.rooms.size) {
      for (const roomId of Object.keys(cursors)) if (!this.rooms.has(roomId)) delete cursors[roomId];
    }
    if (Object.keys(cursors).length) payload.last_seen = cursors;
    const revs = this.getRevCursors();
    if (this.rooms.size) for (const roomId of Object.keys(revs)) if (!this.rooms.has(roomId)) delete revs[roomId];
    if (Object.keys(revs).length) payload.last_rev = revs;
    this._log("auth payload cursors", payload.last_seen || {});
    return payload;
  }

  _openSocket() {
    if (!this._started || this._socket?.connected) return;
    if (!this._polling) {
      this._setState(STATES.CONNECTING, { attempt: this._attempt });
    }
    if (!this._socket) {
      this._socket = this._io(this.baseUrl || undefined, {
        path: this._socketPath,
        transports: this._transports,
        reconnection: false, // our own backoff, see _scheduleReconnect
        forceNew: true,
        autoConnect: false,
        timeout: this.connectTimeoutMs,
        auth: (cb) => cb(this._authPayload()),
      });
      this._bindSocket(this._socket);
    }
    this._socket.connect();
  }

  _bindSocket(socket) {
    socket.onAny?.((event, ...args) => this._log("<-", event, ...args));
    socket.on("connect", () => {
      this._log("socket connected", socket.id);
      this.lastConnectError = null;
      this._clearReconnect();
      if (this._polling) this._stopPolling();
      this._setState(STATES.SYNCING);
    });
    socket.on("connect_error", (err) => this._onConnectError(err));
    socket.on("disconnect", (reason) => this._onSocketDisconnect(reason));
    socket.on("AuthSuccess", (d) => this._onAuthSuccess(d || {}));
    socket.on("AuthError", (d) => {
      if (d?.code === "too_many_connections") {
        this.emit("error", { code: d.code, message: d.error || "too many connections" });
      } else {
        this._unauthorized(d?.code || "auth_failed");
      }
    });
    socket.on("SyncComplete", (d) => this._onSyncComplete(d || {}));
    // The protocol's data events, each handled by the module of its concern (`static socketEvents`
    // of the classes composed in client.js).
    for (const [event, handler] of Object.entries(this._socketEvents)) {
      socket.on(event, (d) => handler.call(this, d));
    }
    socket.on("Error", (d) => {
      // Only events sent without an ack (TypingStart/TypingStop) fail through `Error`: over the
      // typing rate, stay quiet for retry_after.
      if (d?.code === "rate_limit_exceeded") {
        this._typingPausedUntil = this._t.now() + Math.ceil((d.retry_after || 10) * 1000);
      }
      this.emit("error", { ...(d || {}) });
    });
    socket.on("Disconnect", (d) => {
      this._serverReason = d?.reason;
      if (d?.reason === "session_revoked" || d?.reason === "account_deactivated") this._unauthorized(d.reason);
    });
  }

  _emitSocket(event, data) {
    if (!this._socket?.connected) return false;
    this._log("->", event, data);
    this._socket.emit(event, data);
    return true;
  }

  _emitSocketAck(event, data, timeoutMs = this.ackTimeoutMs) {
    return new Promise((resolve, reject) => {
      const socket = this._socket;
      if (!socket?.connected) {
        reject(Object.assign(new Error("not connected"), { code: "not_connected" }));
        return;
      }
      this._log("->", event, data);
      socket.timeout(timeoutMs).emit(event, data, (err, env) => {
        if (err) reject(Object.assign(new Error("ack timeout"), { code: "ack_timeout" }));
        else resolve(env);
      });
    });
  }

  async _onConnectError(err) {
    if (!this._started) return;
    const data = err?.data || {};
    const code = data.code;
    this.lastConnectError = { message: err?.message, ...data };
    this._log("connect_error", err?.message, data);
    if (AUTH_CODES.has(code)) {
      this._unauthorized(code);
      return;
    }
    if (code) this.emit("error", { code, message: data.message || err.message, retry_after: data.retry_after });
    const minDelayMs = data.retry_after ? Math.ceil(Number(data.retry_after) * 1000) : 0;
    // Is it the socket that fails while HTTP works (a proxy that blocks WebSockets, the
    // per-user connection limit)? Then poll over HTTP meanwhile.
    if (this.pollingEnabled && code !== "rate_limit_exceeded" && code !== "server_overloaded") {
      const ok = await this._probeHttp();
      // Meanwhile a retry() may have connected, or the client may have been closed.
      if (!this._started || this.state === STATES.UNAUTHORIZED || this._socket?.connected) return;
      if (ok) {
        this._httpOkFailures += 1;
        if (!this._polling && this._httpOkFailures >= this.pollAfterFailures) this._startPolling();
      } else {
        this._httpOkFailures = 0;
        if (this._polling) this._stopPolling();
      }
    }
    this._scheduleReconnect(minDelayMs, code);
  }

  async _probeHttp() {
    try {
      await this._http("GET", "/api/me");
      return true;
    } catch {
      return false;
    }
  }

  _onSocketDisconnect(reason) {
    this._log("socket disconnected", reason, this._serverReason || "");
    const wasAuthenticated = this._authenticated;
    this._authenticated = false;
    this._syncing = false;
    this._clearRemoteTyping();
    for (const [roomId] of this._myTyping) this._clearMyTyping(roomId);
    // Presence is unknown while cut off (PresenceUpdate refills it after the next AuthSuccess).
    for (const roomId of [...this._online.keys()]) {
      this._online.delete(roomId);
      this._emitPresence(roomId);
    }
    if (!this._started || this.state === STATES.UNAUTHORIZED) return;
    this._serverReason = undefined;
    if (wasAuthenticated) {
      this._attempt = 0;
      this._httpOkFailures = 0;
    }
    this._scheduleReconnect(0, reason);
  }

  /**
   * `reason` is the refusal's code when the server refused the connection (connect_error with
   * data.code: rate_limit_exceeded, too_many_connections, server_overloaded), else why the socket
   * went (socket.io's disconnect reason). A refusal is also given as `refused` in the state info,
   * so that the UI can say why and when it retries.
   */
  _scheduleReconnect(minDelayMs = 0, reason) {
    if (!this._started) return;
    this._clearReconnect();
    const refused = this.lastConnectError?.code;
    if (!this._polling && this._attempt >= this.maxAttempts) {
      this._setState(STATES.OFFLINE, { attempt: this._attempt, reason, refused });
      return;
    }
    // While polling, the socket is still tried in the background, on the same backoff (capped).
    const delay = Math.max(minDelayMs, backoffDelay(this._attempt, { ...this.backoff, random: this._random }));
    this._attempt += 1;
    const retryAt = this._t.now() + delay;
    if (!this._polling) {
      this._setState(STATES.RECONNECTING, {
        attempt: this._attempt,
        max_attempts: this.maxAttempts,
        delay_ms: delay,
        retry_at: retryAt,
        reason,
        refused,
      });
    }
    this._log("reconnect attempt", this._attempt, "in", delay, "ms");
    this._reconnectTimer = this._t.setTimeout(() => {
      this._reconnectTimer = null;
      this._openSocket();
    }, delay);
  }

  _clearReconnect() {
    if (this._reconnectTimer != null) this._t.clearTimeout(this._reconnectTimer);
    this._reconnectTimer = null;
  }

  _unauthorized(code) {
    if (this.state === STATES.UNAUTHORIZED) return;
    this._log("unauthorized", code);
    this._started = false;
    this._clearReconnect();
    this._stopPolling();
    this._authenticated = false;
    if (this._socket) {
      const s = this._socket;
      this._socket = null;
      s.removeAllListeners?.();
      s.disconnect();
    }
    this._setState(STATES.UNAUTHORIZED, { reason: code });
    this.emit("error", { code, message: code === "session_revoked" ? "signed out" : "authentication failed" });
  }

  _onAuthSuccess({ user, rooms, connection_id }) {
    this._authenticated = true;
    this._syncing = true;
    this._attempt = 0;
    this._httpOkFailures = 0;
    this.user = user || this.user;
    if (!this.userId && user?.id) this.userId = user.id;
    this.connectionId = connection_id;
    // Each room's PresenceUpdate follows AuthSuccess (PROTOCOL.md section 3): asking for it as
    // well would cost the server a big room's whole presence per connecting client.
    this._reconcileRooms(rooms || [], this._readyOnce === true, false);
    this._readyOnce = true;
    this._seedCursors(rooms || []);
    this.emit("ready", { user: this.user, rooms: this.getRooms(), connection_id });
    this._pump();
  }

  _onSyncComplete({ rooms, missed_count, truncated }) {
    this._syncing = false;
    for (const r of rooms || []) {
      if (r?.room_id == null) continue;
      this._bumpLastSeq(r.room_id, r.last_seq || 0);
    }
    this._revsSynced(rooms, truncated);
    this._setState(STATES.CONNECTED, { missed_count, truncated });
    this.emit("synced", { rooms: rooms || [], missed_count, truncated });
    for (const roomId of this.rooms.keys()) this._checkGap(roomId, 0);
    if (this._activeRoomId) this.requestPresence(this._activeRoomId);
    this._pump();
  }
}
