// Cursors and sync: per-room timelines, resume cursors in storage, gap filling over HTTP, history.

import { enc } from "./http.js";
import { RoomTimeline } from "./timeline.js";

/** CampfireClient methods: messages in, cursors kept, gaps filled. */
export class Sync {
  static socketEvents = {
    NewMessage(d) {
      if (d?.message) this._ingest(d.room_id || d.message.room_id, d.message, this._syncing ? "replay" : "live");
    },
  };

  /** The room's messages received so far, ascending by seq. */
  getMessages(roomId) {
    return this._timelines.get(roomId)?.messages.slice() || [];
  }

  getCursor(roomId) {
    const tl = this._timelines.get(roomId);
    if (tl && tl.cursor != null) return tl.cursor;
    return this._storedCursors[roomId] ?? null;
  }

  /** {room_id: seq} for every room with a cursor: sent as `last_seen` on (re)connect. */
  getCursors() {
    const out = {};
    for (const [roomId, seq] of Object.entries(this._storedCursors)) out[roomId] = seq;
    for (const [roomId, tl] of this._timelines) if (tl.cursor != null) out[roomId] = tl.cursor;
    return out;
  }

  getLastSeq(roomId) {
    return this.lastSeq.get(roomId) ?? 0;
  }

  /** True when older messages than those loaded may exist on the server. */
  hasOlder(roomId) {
    const tl = this._timelines.get(roomId);
    if (!tl || tl.minSeq == null) return true; // nothing loaded yet: unknown
    return tl.minSeq > 1;
  }

  /** Load up to `limit` messages older than those loaded (or the latest when none). */
  async loadOlder(roomId, limit = this.historyPageSize) {
    const tl = this._timeline(roomId);
    const params = new URLSearchParams({ limit: String(limit) });
    if (tl.minSeq != null) {
      if (tl.minSeq <= 1) return 0;
      params.set("before_seq", String(tl.minSeq));
    }
    const data = await this._http("GET", `/api/rooms/${enc(roomId)}/messages?${params}`);
    const messages = data?.messages || [];
    this._ingestMany(roomId, messages, "history");
    if (!this._syncing) this._checkGap(roomId, 0); // history may show a hole below the cursor
    return messages.length;
  }

  /**
   * A room this client holds no cursor for starts from its `last_seq` in AuthSuccess: what came
   * before is history (loaded on demand), and anything after that does not arrive live is a gap
   * to fill. Without it, the first live message would start the timeline and a message just
   * before it, never delivered to this socket, would pass for history and never be shown.
   */
  _seedCursors(rooms) {
    let seeded = false;
    for (const r of rooms) {
      if (!r?.id || !Number.isInteger(r.last_seq)) continue;
      const tl = this._timeline(r.id);
      if (tl.cursor != null) continue; // resumed from a cursor, or messages already arrived
      tl.cursor = r.last_seq;
      this._bumpLastSeq(r.id, r.last_seq);
      seeded = true;
    }
    if (seeded) this._saveCursors();
  }

  _timeline(roomId) {
    let tl = this._timelines.get(roomId);
    if (!tl) {
      tl = new RoomTimeline(roomId, this._storedCursors[roomId] ?? null);
      this._timelines.set(roomId, tl);
    }
    return tl;
  }

  _ingestMany(roomId, messages, source) {
    for (const m of messages) this._ingest(roomId || m.room_id, m, source);
  }

  _ingest(roomId, message, source) {
    roomId = roomId || message?.room_id;
    if (!roomId || !message) return;
    const tl = this._timeline(roomId);
    const cursorBefore = tl.cursor;
    const res = tl.add(message);
    if (res.duplicate) {
      this._log("duplicate", message.id, "seq", message.seq);
      this._mergeNewer(roomId, message, source); // a newer state of it (messages.js)
      return;
    }
    this._bumpLastSeq(roomId, message.seq);
    if (res.held) {
      this._heldSources.set(message.id, source);
      this._log("gap in", roomId, "holding seq", message.seq, "cursor", tl.cursor);
      if (!this._syncing) this._checkGap(roomId, this.gapFillDelayMs);
    }
    if (res.accepted.length) this._accepted(roomId, res.accepted, source);
    if (tl.cursor !== cursorBefore) this._saveCursors();
  }

  _accepted(roomId, messages, source) {
    let queueChanged = false;
    for (const m of messages) {
      const cmid = m.client_message_id;
      if (cmid && this.queue.remove(cmid)) queueChanged = true;
      if (cmid && this._delivered.delete(cmid)) queueChanged = true;
      const typers = this._remoteTyping.get(roomId);
      if (typers?.has(m.creator_id)) this._setRemoteTyping(roomId, m.creator_id, false);
      const src = this._heldSources.get(m.id) ?? source;
      this._heldSources.delete(m.id);
      this.emit("message", { message: m, room_id: roomId, source: src });
    }
    if (queueChanged) this._queueChanged();
  }

  _bumpLastSeq(roomId, seq) {
    if (typeof seq === "number" && seq > (this.lastSeq.get(roomId) ?? 0)) this.lastSeq.set(roomId, seq);
  }

  _loadCursors() {
    try {
      const raw = this._storage.getItem(this._cursorKey);
      const parsed = raw ? JSON.parse(raw) : {};
      const out = {};
      for (const [k, v] of Object.entries(parsed || {})) if (Number.isInteger(v) && v >= 0) out[k] = v;
      return out;
    } catch {
      return {};
    }
  }

  _saveCursors(removedRoomId) {
    // Merge with what another tab of the same user may have written, keeping the highest cursor per
    // room: the stored cursors only seed a fresh page, whose timelines start empty anyway.
    const merged = this._loadCursors();
    for (const [roomId, seq] of Object.entries(this.getCursors())) {
      merged[roomId] = Math.max(seq, merged[roomId] ?? -1);
    }
    if (removedRoomId) delete merged[removedRoomId];
    try {
      this._storage.setItem(this._cursorKey, JSON.stringify(merged));
    } catch {
      // ignore quota errors
    }
  }

  /** Fetch missing messages of a room over HTTP: the held gap, or up to the known last seq. */
  _checkGap(roomId, delayMs) {
    const tl = this._timelines.get(roomId);
    if (!tl) return;
    const behind = tl.cursor != null && this.getLastSeq(roomId) > tl.cursor;
    if (!tl.hasGap && !behind && this._openHole(roomId, tl) == null) return;
    if (this._gapTimers.has(roomId) || this._gapFetching.has(roomId)) return;
    if (delayMs > 0) {
      const timer = this._t.setTimeout(() => {
        this._gapTimers.delete(roomId);
        this._fillGap(roomId);
      }, delayMs);
      this._gapTimers.set(roomId, timer);
    } else {
      this._fillGap(roomId);
    }
  }

  /** The timeline's hole (timeline.js `hole`), unless the server was already asked for it in vain. */
  _openHole(roomId, tl) {
    const hole = tl.hole();
    return hole != null && !this._unfillable(roomId).has(hole) ? hole : null;
  }

  _unfillable(roomId) {
    let seqs = (this._unfillableHoles ||= new Map()).get(roomId);
    if (!seqs) this._unfillableHoles.set(roomId, (seqs = new Set()));
    return seqs;
  }

  async _fillGap(roomId) {
    const tl = this._timelines.get(roomId);
    if (!tl || this._gapFetching.has(roomId)) return;
    this._gapFetching.add(roomId);
    try {
      for (let round = 0; round < 100; round++) {
        const hole = this._openHole(roomId, tl);
        if (hole != null) {
          this._log("filling hole in", roomId, "at", hole);
          const data = await this._http(
            "GET",
            `/api/rooms/${enc(roomId)}/messages?after_seq=${hole - 1}&limit=200`,
          );
          if (this._timelines.get(roomId) !== tl) return; // room left meanwhile
          this._ingestMany(roomId, data?.messages || [], "http");
          if (tl.hole() === hole) this._unfillable(roomId).add(hole); // the server has none
          continue;
        }
        const gap = tl.gap();
        const target = gap ? gap.before - 1 : this.getLastSeq(roomId);
        if (tl.cursor == null || tl.cursor >= target) break;
        this._log("filling gap in", roomId, "after", tl.cursor, "up to", target);
        const after = tl.cursor;
        const data = await this._http(
          "GET",
          `/api/rooms/${enc(roomId)}/messages?after_seq=${after}&limit=200`,
        );
        if (this._timelines.get(roomId) !== tl) return; // room left meanwhile
        const messages = data?.messages || [];
        this._ingestMany(roomId, messages, "http");
        if (tl.cursor === after) {
          // The server has nothing to fill it with: release what we hold rather than stall.
          const released = tl.releaseHeld();
          if (released.length) {
            this._accepted(roomId, released, "live");
            this._saveCursors();
          }
          break;
        }
      }
    } catch (err) {
      this._log("gap fill failed", roomId, err?.message);
      // Retry later (a reconnect also resumes from the cursor).
      if (this._started && err?.status !== 401) {
        const timer = this._t.setTimeout(() => {
          this._gapTimers.delete(roomId);
          this._fillGap(roomId);
        }, 2000);
        this._gapTimers.set(roomId, timer);
      }
    } finally {
      this._gapFetching.delete(roomId);
    }
  }
}
