// Per-room timeline: ordering by seq, de-duplication by id, gap detection.


/**
 * The messages of one room, kept sorted by seq.
 *
 * `cursor` is the highest seq received with nothing missing between it and the first message this
 * timeline started from (or the cursor it was created with). A message right after the cursor is
 * accepted and advances it; a message further ahead is held until the gap is filled; a message at
 * or below the cursor is older history and simply inserted.
 */
export class RoomTimeline {
  constructor(roomId, cursor = null) {
    this.roomId = roomId;
    this.cursor = Number.isInteger(cursor) ? cursor : null;
    this.messages = []; // accepted, ascending seq
    this._ids = new Set(); // ids of accepted and held messages
    this._seqs = new Set(); // seqs of accepted messages
    this.held = new Map(); // seq -> message waiting for a gap to be filled
  }

  has(id) {
    return this._ids.has(id);
  }

  get hasGap() {
    return this.held.size > 0;
  }

  get minSeq() {
    return this.messages.length ? this.messages[0].seq : null;
  }

  get maxSeq() {
    let max = this.messages.length ? this.messages[this.messages.length - 1].seq : null;
    for (const s of this.held.keys()) if (max == null || s > max) max = s;
    return max;
  }

  /** The lowest missing seq range (after, before) with before exclusive, or null. */
  gap() {
    if (!this.held.size || this.cursor == null) return null;
    const firstHeld = Math.min(...this.held.keys());
    return { after: this.cursor, before: firstHeld };
  }

  /**
   * The lowest seq missing between the first accepted message and the cursor, or null. A timeline
   * is contiguous there unless something went wrong: its cursor was first set from a live message
   * whose predecessor never came, or a gap was given up on (`releaseHeld`). Sync fetches such a
   * hole over HTTP rather than show a room with messages silently missing.
   */
  hole() {
    if (this.cursor == null || !this.messages.length) return null;
    let expected = this.messages[0].seq;
    for (const m of this.messages) {
      if (m.seq > this.cursor) break;
      if (m.seq !== expected) return expected;
      expected += 1;
    }
    return null;
  }

  /**
   * Add one message; returns {accepted: [messages now in the timeline, in order], duplicate,
   * held}. `accepted` may contain held messages released by this one.
   */
  add(message) {
    const out = { accepted: [], duplicate: false, held: false };
    if (!message || typeof message.seq !== "number" || !message.id) return out;
    if (this._ids.has(message.id) || this._seqs.has(message.seq) || this.held.has(message.seq)) {
      out.duplicate = true;
      return out;
    }
    if (this.cursor == null) {
      this.cursor = message.seq - 1;
    }
    if (message.seq <= this.cursor) {
      this._insert(message);
      out.accepted.push(message);
      return out;
    }
    if (message.seq === this.cursor + 1) {
      this._insert(message);
      this.cursor = message.seq;
      out.accepted.push(message);
      out.accepted.push(...this._drain());
      return out;
    }
    this.held.set(message.seq, message);
    this._ids.add(message.id);
    out.held = true;
    return out;
  }

  /** Give up on the gap: accept every held message (used when the server has nothing to fill it). */
  releaseHeld() {
    if (!this.held.size) return [];
    const seqs = [...this.held.keys()].sort((a, b) => a - b);
    const released = [];
    for (const s of seqs) {
      const m = this.held.get(s);
      this.held.delete(s);
      this._insert(m);
      released.push(m);
    }
    this.cursor = Math.max(this.cursor ?? 0, seqs[seqs.length - 1]);
    return released;
  }

  _drain() {
    const released = [];
    while (this.held.has(this.cursor + 1)) {
      const m = this.held.get(this.cursor + 1);
      this.held.delete(this.cursor + 1);
      this._insert(m);
      this.cursor = m.seq;
      released.push(m);
    }
    return released;
  }

  _insert(message) {
    this._ids.add(message.id);
    this._seqs.add(message.seq);
    const list = this.messages;
    if (!list.length || list[list.length - 1].seq < message.seq) {
      list.push(message);
      return;
    }
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid].seq < message.seq) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, message);
  }
}
