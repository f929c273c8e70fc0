// Presence and typing: who is online in a room, who is typing, and this user's own typing.

/** CampfireClient methods: presence and typing. */
export class Presence {
  static socketEvents = {
    TypingStart(d) {
      this._onRemoteTyping(d, true);
    },
    TypingStop(d) {
      this._onRemoteTyping(d, false);
    },
    PresenceUpdate(d) {
      this._onPresenceUpdate(d);
    },
    UserJoined(d) {
      this._onPresenceDelta(d, true);
    },
    UserLeft(d) {
      this._onPresenceDelta(d, false);
    },
  };

  getOnline(roomId) {
    return [...(this._online.get(roomId) || [])];
  }

  getRecentlyActive(roomId) {
    return [...(this._recent.get(roomId) || [])];
  }

  getTyping(roomId) {
    return [...(this._remoteTyping.get(roomId)?.keys() || [])];
  }

  /** Which room the page shows: its presence is refreshed while polling. */
  setActiveRoom(roomId) {
    this._activeRoomId = roomId;
    this._t.clearTimeout(this._presenceTimer); // the answer below schedules the next refresh
    this._presenceTimer = null;
    if (!roomId) return;
    if (this.connected) this.requestPresence(roomId);
    else if (this._polling) this._pollPresence(roomId).catch(() => {});
  }

  /** Ask for a room's presence (answered by a `presence` event). */
  requestPresence(roomId) {
    if (this.connected) {
      this._emitSocketAck("GetPresence", { room_id: roomId }).then(
        (env) => {
          if (env?.type === "PresenceUpdate") this._onPresenceUpdate(env.data);
        },
        () => {},
      );
    } else {
      this._pollPresence(roomId).catch(() => {});
    }
  }

  /**
   * Call on every keystroke in a room's composer. Sends at most one TypingStart per
   * typingThrottleMs for the whole client (across rooms), and announces at most
   * typingStartsPerMinute new bursts (typing after a message, a stop or in another room) per
   * rolling minute: the server's budget (10), so that someone sending a dozen quick messages is
   * never refused; a burst past it is announced when the budget allows (or not at all if the
   * message goes first). Refreshes of a burst going on (one per typingThrottleMs, above the
   * server's 2 s relay pace and below its 5 s expiry) are free on the server and keep others'
   * indicator on for as long as this user types.
   */
  typing(roomId) {
    if (!this.connected || !roomId) return;
    let st = this._myTyping.get(roomId);
    if (!st) {
      st = { started: false, idleTimer: null, startTimer: null };
      this._myTyping.set(roomId, st);
    }
    this._maybeSendTypingStart(roomId, st);
    this._t.clearTimeout(st.idleTimer);
    st.idleTimer = this._t.setTimeout(() => this.stopTyping(roomId), this.typingIdleMs);
  }

  _maybeSendTypingStart(roomId, st) {
    const now = this._t.now();
    let allowedAt = Math.max(this._lastTypingStart + this.typingThrottleMs, this._typingPausedUntil || 0);
    if (!st.started) {
      const starts = this._typingBurstStarts.filter((at) => at > now - 60000);
      this._typingBurstStarts = starts;
      if (starts.length >= this.typingStartsPerMinute) allowedAt = Math.max(allowedAt, starts[0] + 60000);
    }
    if (now >= allowedAt) {
      this._t.clearTimeout(st.startTimer);
      st.startTimer = null;
      if (!st.started) this._typingBurstStarts.push(now);
      st.started = true;
      this._lastTypingStart = now;
      this._emitSocket("TypingStart", { room_id: roomId });
    } else if (!st.started && st.startTimer == null) {
      // A new burst too soon: announce it as soon as allowed.
      st.startTimer = this._t.setTimeout(() => {
        st.startTimer = null;
        if (this._myTyping.get(roomId) === st && this.connected) this._maybeSendTypingStart(roomId, st);
      }, allowedAt - now);
    }
  }

  /** Ends this user's typing in a room (sends TypingStop if a TypingStart went out). */
  stopTyping(roomId) {
    const st = this._myTyping.get(roomId);
    if (!st) return;
    this._clearMyTyping(roomId);
    if (st.started && this.connected) this._emitSocket("TypingStop", { room_id: roomId });
  }

  _clearMyTyping(roomId) {
    const st = this._myTyping.get(roomId);
    if (st) {
      this._t.clearTimeout(st.idleTimer);
      this._t.clearTimeout(st.startTimer);
    }
    this._myTyping.delete(roomId);
  }

  _onPresenceUpdate(d) {
    if (!d?.room_id) return;
    if (d.live === false) this._presenceOnRequest.add(d.room_id);
    else this._presenceOnRequest.delete(d.room_id);
    this._online.set(d.room_id, new Set(d.online_users || []));
    this._emitPresence(d.room_id);
    if (d.room_id === this._activeRoomId) this._schedulePresenceRefresh();
  }

  /**
   * A big room's presence is not pushed (`live: false`): the server's PresenceUpdate at
   * authentication lists only this user, and nobody's coming and going is announced. While such
   * a room is on screen, ask for its presence every presenceRefreshMs (skipped while the page is
   * hidden), with jitter so that a room's many clients do not ask together. A reconnect asks
   * again at SyncComplete, which schedules anew.
   */
  _schedulePresenceRefresh() {
    this._t.clearTimeout(this._presenceTimer);
    this._presenceTimer = null;
    const roomId = this._activeRoomId;
    if (!roomId || !this._presenceOnRequest.has(roomId)) return;
    const delay = this.presenceRefreshMs * (0.8 + 0.4 * this._random());
    this._presenceTimer = this._t.setTimeout(() => {
      this._presenceTimer = null;
      if (this._activeRoomId !== roomId || !this.connected) return;
      if (this._visible === false) this._schedulePresenceRefresh();
      else this.requestPresence(roomId);
    }, delay);
  }

  _onPresenceDelta(d, joined) {
    if (!d?.room_id || !d.user_id) return;
    let set = this._online.get(d.room_id);
    if (!set) {
      set = new Set();
      this._online.set(d.room_id, set);
    }
    if (joined) set.add(d.user_id);
    else set.delete(d.user_id);
    if (!joined) this._setRemoteTyping(d.room_id, d.user_id, false);
    this._emitPresence(d.room_id);
  }

  _emitPresence(roomId) {
    const payload = { room_id: roomId, online_users: this.getOnline(roomId), mode: this._polling ? "recent" : "live" };
    if (this._presenceOnRequest.has(roomId)) payload.live = false; // fetched, not pushed
    if (this._polling) payload.recently_active = this.getRecentlyActive(roomId);
    this.emit("presence", payload);
  }

  _onRemoteTyping(d, on) {
    if (!d?.room_id || !d.user_id) return;
    if (d.user_id === this.user?.id) return;
    this._setRemoteTyping(d.room_id, d.user_id, on);
  }

  _setRemoteTyping(roomId, userId, on) {
    let map = this._remoteTyping.get(roomId);
    if (!map) {
      map = new Map();
      this._remoteTyping.set(roomId, map);
    }
    const had = map.has(userId);
    if (had) this._t.clearTimeout(map.get(userId));
    if (on) {
      // Expire locally too, in case the TypingStop is lost with the connection.
      map.set(userId, this._t.setTimeout(() => this._setRemoteTyping(roomId, userId, false), this.remoteTypingTtlMs));
      if (!had) this.emit("typingStart", { user_id: userId, room_id: roomId });
    } else if (had) {
      map.delete(userId);
      this.emit("typingStop", { user_id: userId, room_id: roomId });
    }
  }

  _clearRemoteTyping() {
    for (const [roomId, map] of this._remoteTyping) {
      for (const userId of [...map.keys()]) this._setRemoteTyping(roomId, userId, false);
    }
  }
}
