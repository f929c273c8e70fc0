// The outbox: the offline queue of outgoing messages (persisted) and the pump that sends it.

import { AUTH_CODES, PERMANENT_SEND_CODES } from "./constants.js";
import { enc } from "./http.js";
import { uuid } from "./util.js";


/**
 * Outgoing messages not yet acknowledged by the server, persisted in storage so that they survive
 * a page reload. Each keeps the client_message_id it was created with.
 */
export class OfflineQueue {
  constructor(storage, key) {
    this._storage = storage;
    this._key = key;
    this.items = [];
    this.load();
  }

  load() {
    try {
      const raw = this._storage.getItem(this._key);
      const parsed = raw ? JSON.parse(raw) : [];
      this.items = Array.isArray(parsed)
        ? parsed.filter((i) => i && i.client_message_id && i.room_id && typeof i.content === "string")
        : [];
    } catch {
      this.items = [];
    }
    return this.items;
  }

  save() {
    try {
      if (this.items.length) this._storage.setItem(this._key, JSON.stringify(this.items));
      else this._storage.removeItem(this._key);
    } catch {
      // quota exceeded: the queue still lives in memory
    }
  }

  // Every change re-reads storage first, so that tabs of the same user do not overwrite each
  // other's queued messages (a message queued in one tab may then be sent by another; the server
  // is idempotent on client_message_id, so it is still stored once).
  add(item) {
    this.load();
    this.items.push(item);
    this.save();
    return item;
  }

  get(clientMessageId) {
    return this.items.find((i) => i.client_message_id === clientMessageId) || null;
  }

  remove(clientMessageId) {
    if (!this.items.some((i) => i.client_message_id === clientMessageId)) return false;
    this.load();
    const before = this.items.length;
    this.items = this.items.filter((i) => i.client_message_id !== clientMessageId);
    if (this.items.length !== before) {
      this.save();
      return true;
    }
    return false;
  }

  removeRoom(roomId) {
    this.load();
    const removed = this.items.filter((i) => i.room_id === roomId);
    if (removed.length) {
      this.items = this.items.filter((i) => i.room_id !== roomId);
      this.save();
    }
    return removed;
  }

  get head() {
    return this.items[0] || null;
  }

  get length() {
    return this.items.length;
  }
}

/** CampfireClient methods: queueing and sending messages, one at a time, each until acknowledged. */
export class Outbox {
  /** Messages written but not yet in the timeline: {status: "queued" | "sent", ...item}. */
  getPending(roomId) {
    const out = [];
    for (const item of this.queue.items) {
      if (roomId == null || item.room_id === roomId) out.push({ ...item, status: "queued" });
    }
    for (const item of this._delivered.values()) {
      if (roomId == null || item.room_id === roomId) out.push({ ...item, status: "sent" });
    }
    return out;
  }

  /**
   * Queue a message and send it as soon as possible. Returns the queued item (with its
   * client_message_id). It is delivered exactly once, across disconnects and reloads.
   */
  sendMessage(roomId, content, { mentionIds, attachmentIds } = {}) {
    const files = attachmentIds?.length ? [...new Set(attachmentIds)] : null;
    // With files attached, the text may be empty (PROTOCOL.md 9.4).
    if (typeof content !== "string" || (!content.trim() && !files)) {
      throw new TypeError("message content must be a non-empty string");
    }
    this.stopTyping(roomId);
    const item = this.queue.add({
      client_message_id: uuid(),
      room_id: roomId,
      content,
      ...(mentionIds?.length ? { mention_ids: [...new Set(mentionIds)] } : {}),
      ...(files ? { attachment_ids: files } : {}),
      created_at: new Date(this._t.now()).toISOString(),
    });
    this._log("queued", item.client_message_id, "for", roomId);
    this._queueChanged();
    this._pump();
    return item;
  }

  /** Drop a queued (not yet acknowledged) message. */
  discardPending(clientMessageId) {
    if (this.queue.remove(clientMessageId)) this._queueChanged();
  }

  _queueChanged() {
    this.emit("queue", { pending: this.getPending() });
  }

  _sendMode() {
    if (this.connected) return "socket";
    if (this._polling) return "http";
    return null;
  }

  /** Send queued messages one at a time, oldest first, each until acknowledged or refused. */
  async _pump() {
    if (this._pumping) return;
    this._pumping = true;
    this._t.clearTimeout(this._pumpTimer);
    this._pumpTimer = null;
    try {
      while (this.queue.length) {
        const mode = this._sendMode();
        if (!mode) break;
        const item = this.queue.head;
        let result;
        try {
          result = mode === "socket" ? await this._sendOverSocket(item) : await this._sendOverHttp(item);
        } catch (err) {
          result = { ok: false, retry: true, error: { code: err?.code || "send_failed", message: err?.message } };
        }
        if (!this.queue.get(item.client_message_id)) continue; // delivered meanwhile (broadcast came first)
        if (result.ok) {
          this.queue.remove(item.client_message_id);
          const tl = this._timelines.get(item.room_id);
          if (!(result.message_id && tl?.has(result.message_id))) {
            this._delivered.set(item.client_message_id, { ...item, message_id: result.message_id, seq: result.seq });
          }
          if (typeof result.seq === "number") this._bumpLastSeq(item.room_id, result.seq);
          this._queueChanged();
          continue;
        }
        if (!result.retry) {
          this.queue.remove(item.client_message_id);
          this._queueChanged();
          this.emit("messageFailed", { item, error: result.error });
          this.emit("error", { ...result.error, client_message_id: item.client_message_id, room_id: item.room_id });
          continue;
        }
        // Retry later: after retry_after, or on the next (re)connection, or after a short pause.
        const wait = result.retryAfterMs ?? (this._sendMode() ? 2000 : null);
        if (wait != null) this._pumpTimer = this._t.setTimeout(() => this._pump(), wait);
        if (result.error?.code === "rate_limit_exceeded") this.emit("error", { ...result.error, client_message_id: item.client_message_id });
        break;
      }
    } finally {
      this._pumping = false;
    }
  }

  async _sendOverSocket(item) {
    const env = await this._emitSocketAck("NewMessage", {
      room_id: item.room_id,
      content: item.content,
      client_message_id: item.client_message_id,
      ...(item.mention_ids ? { mention_ids: item.mention_ids } : {}),
      ...(item.attachment_ids ? { attachment_ids: item.attachment_ids } : {}),
    });
    if (env?.type === "MessageDelivered") {
      return { ok: true, message_id: env.data?.message_id, seq: env.data?.seq };
    }
    const data = env?.data || {};
    const code = data.code || "internal_error";
    if (AUTH_CODES.has(code)) return { ok: false, retry: true, error: { code, message: data.error } };
    const error = { code, message: data.error || data.message || code, retry_after: data.retry_after };
    if (code === "rate_limit_exceeded") {
      return { ok: false, retry: true, retryAfterMs: Math.ceil((data.retry_after || 1) * 1000), error };
    }
    return { ok: false, retry: !PERMANENT_SEND_CODES.has(code), error };
  }

  async _sendOverHttp(item) {
    try {
      const data = await this._http("POST", `/api/rooms/${enc(item.room_id)}/messages`, {
        content: item.content,
        client_message_id: item.client_message_id,
        ...(item.mention_ids ? { mention_ids: item.mention_ids } : {}),
        ...(item.attachment_ids ? { attachment_ids: item.attachment_ids } : {}),
      });
      const m = data?.message;
      if (m) this._ingest(item.room_id, m, "http");
      return { ok: true, message_id: m?.id, seq: m?.seq };
    } catch (err) {
      const error = { code: err.code, message: err.message, retry_after: err.retryAfter };
      if (err.status === 429) {
        return { ok: false, retry: true, retryAfterMs: Math.ceil((err.retryAfter || 1) * 1000), error };
      }
      if (err.status === 0 || err.status >= 500 || err.status === 401) return { ok: false, retry: true, error };
      return { ok: false, retry: !PERMANENT_SEND_CODES.has(err.code) && err.status !== 422 && err.status !== 400, error };
    }
  }
}
