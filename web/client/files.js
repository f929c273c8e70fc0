// Files and search (PROTOCOL.md 9.4, 9.5): uploads with progress, full-text search, and the
// history around a message (to show a search result in its place).

import { CampfireHttpError, enc, joinUrl } from "./http.js";

export class Files {
  /**
   * Upload a File/Blob to a room (multipart field `file`). Resolves to the attachment
   * `{id, filename, content_type, byte_size, width?, height?, url, thumbnail_url?}`; pass its id
   * in `sendMessage(roomId, text, {attachmentIds})`. `onProgress(sentBytes, totalBytes)` follows
   * the upload; `signal` (an AbortSignal) cancels it.
   */
  uploadFile(roomId, file, { onProgress, signal } = {}) {
    const url = joinUrl(this.baseUrl, `/api/rooms/${enc(roomId)}/attachments`);
    const form = new FormData();
    form.append("file", file, file.name || "file");
    if (typeof XMLHttpRequest === "undefined") {
      // No upload progress outside a browser: plain fetch.
      return this._fetch(url, {
        method: "POST",
        body: form,
        headers: { Authorization: `Bearer ${this.token}` },
        signal,
      }).then(async (res) => {
        const data = await res.json().catch(() => ({}));
        if (!res.ok) throw new CampfireHttpError(res.status, data.code, data.error || res.statusText);
        return data.attachment;
      });
    }
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.setRequestHeader("Authorization", `Bearer ${this.token}`);
      xhr.responseType = "json";
      xhr.upload.onprogress = (e) => onProgress?.(e.loaded, e.lengthComputable ? e.total : file.size);
      xhr.onload = () => {
        const data = xhr.response || {};
        if (xhr.status === 201) resolve(data.attachment);
        else reject(new CampfireHttpError(xhr.status, data.code || "upload_failed", data.error || `upload failed (${xhr.status})`));
      };
      xhr.onerror = () => reject(new CampfireHttpError(0, "network_error", "the upload did not reach the server"));
      xhr.onabort = () => reject(new CampfireHttpError(0, "aborted", "upload cancelled"));
      signal?.addEventListener("abort", () => xhr.abort());
      xhr.send(form);
    });
  }

  /** GET /api/search: messages (newest first), each with `room {id, name, kind}`. */
  async search(q, { roomId, limit, beforeId } = {}) {
    const params = new URLSearchParams({ q });
    if (roomId) params.set("room_id", roomId);
    if (limit) params.set("limit", String(limit));
    if (beforeId) params.set("before_id", beforeId);
    const data = await this._http("GET", `/api/search?${params}`);
    return data?.messages || [];
  }

  /**
   * Make sure the room's loaded history reaches back to `seq` (and a few messages before it),
   * paging older history as the timeline does; returns whether the message is now loaded.
   */
  async loadAround(roomId, seq, { before = 10, maxPages = 40 } = {}) {
    const want = Math.max(1, seq - before);
    for (let page = 0; page < maxPages; page++) {
      const tl = this._timeline(roomId);
      if (tl.minSeq != null && tl.minSeq <= want) break;
      const got = await this.loadOlder(roomId);
      if (!got) break;
    }
    return this.getMessages(roomId).some((m) => m.seq === seq);
  }
}
