'use strict';
// A lean Socket.IO v5 / Engine.IO v4 client over the `ws` package (the WebSocket library that
// socket.io-client itself uses in Node), websocket transport only, default namespace only,
// text packets only. It exposes the subset of socket.io-client's Socket API the load generator
// uses: on(event, fn), emit(event, data, ack), disconnect(), and the 'connect',
// 'connect_error' and 'disconnect' events.
//
// Why: on the 2-core benchmark machine socket.io-client spends ~45 us of CPU per received
// event (Manager -> engine.io Socket -> Transport -> Emitter layers), which caps one load
// generator core at ~20,000 deliveries/s, below the targets it has to measure. This client
// speaks the same wire protocol at ~10 us per event. bench/run --client socket.io-client
// runs every scenario with the real socket.io-client instead, for cross-checking.

const path = require('path');
const zlib = require('zlib');
const WebSocket = require('ws');

// permessage-deflate, inflated synchronously. ws inflates every message through Node's zlib
// thread pool (10 at a time per process); with 1,000 sockets on one core that round trip, not
// the inflating, caps the receive rate near 2,000 messages/s while both CPUs idle. A browser
// inflates natively and synchronously, so the load generator does the same: same zlib, same
// per-socket context (context takeover), the result handed back on the next tick. Node has no
// public synchronous streaming inflate (zlib.inflateRawSync() forgets the window, and the
// private _processChunk() closes the stream), so this drives the zlib handle the way Node's
// own processChunkSync() does, minus the close. If the private fields are not there, ws's own
// asynchronous path is used.
const PerMessageDeflate = require(path.join(path.dirname(require.resolve('ws')), 'lib', 'permessage-deflate.js'));
const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const asyncDecompress = PerMessageDeflate.prototype.decompress;

function inflateChunkSync(z, chunk) {
  const handle = z._handle;
  const state = z._writeState;
  const chunkSize = z._chunkSize;
  let availInBefore = chunk.byteLength;
  let inOff = 0;
  let buffer = z._outBuffer;
  let offset = z._outOffset;
  let availOutBefore = chunkSize - offset;
  const buffers = [];
  let nread = 0;
  for (;;) {
    handle.writeSync(zlib.constants.Z_SYNC_FLUSH, chunk, inOff, availInBefore, buffer, offset, availOutBefore);
    if (z._syncError) throw z._syncError;
    const availOutAfter = state[0];
    const availInAfter = state[1];
    const have = availOutBefore - availOutAfter;
    if (have > 0) {
      buffers.push(buffer.slice(offset, offset + have));
      offset += have;
      nread += have;
    }
    if (availOutAfter === 0 || offset >= chunkSize) {
      availOutBefore = chunkSize;
      offset = 0;
      buffer = Buffer.allocUnsafe(chunkSize);
    }
    if (availOutAfter !== 0) break;
    inOff += availInBefore - availInAfter;
    availInBefore = availInAfter;
  }
  z._outBuffer = buffer;
  z._outOffset = offset;
  return buffers.length === 1 ? buffers[0] : Buffer.concat(buffers, nread);
}

PerMessageDeflate.prototype.decompress = function decompressSync(data, fin, callback) {
  const endpoint = this._isServer ? 'client' : 'server';
  let out;
  try {
    if (!this._syncInflate) {
      const bits = this.params[`${endpoint}_max_window_bits`];
      const z = zlib.createInflateRaw({
        windowBits: typeof bits === 'number' ? bits : zlib.constants.Z_DEFAULT_WINDOWBITS,
      });
      if (!z._handle || typeof z._handle.writeSync !== 'function' || !z._writeState) {
        z.close();
        return asyncDecompress.call(this, data, fin, callback);
      }
      z.on('error', (err) => {
        z._syncError = err;
      });
      this._syncInflate = z;
    }
    out = inflateChunkSync(this._syncInflate, fin ? Buffer.concat([data, TRAILER]) : data);
    if (fin && this.params[`${endpoint}_no_context_takeover`]) this._syncInflate.reset();
  } catch (err) {
    process.nextTick(callback, err);
    return undefined;
  }
  process.nextTick(callback, null, out);
  return undefined;
};
const cleanup = PerMessageDeflate.prototype.cleanup;
PerMessageDeflate.prototype.cleanup = function cleanupSync() {
  if (this._syncInflate) {
    this._syncInflate.close();
    this._syncInflate = null;
  }
  return cleanup.call(this);
};

class ConnectError extends Error {
  constructor(message, data) {
    super(message);
    this.data = data;
  }
}

class LeanSocket {
  constructor(url, opts = {}) {
    const u = new URL(url);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    u.pathname = opts.path || '/socket.io/';
    u.searchParams.set('EIO', '4');
    u.searchParams.set('transport', 'websocket');
    for (const [k, v] of Object.entries(opts.query || {})) u.searchParams.set(k, v);
    this.handlers = new Map();
    this.acks = new Map();
    this.ackId = 0;
    this.connected = false;
    this.id = undefined;
    this._auth = opts.auth;
    this._closedByUs = false;
    this._serverDisconnect = false;
    this._failed = false;
    this.ws = new WebSocket(u.toString(), {
      // Offer permessage-deflate as browsers and socket.io-client do; the server decides.
      perMessageDeflate: opts.perMessageDeflate !== false,
      handshakeTimeout: opts.timeout || 20000,
      headers: opts.extraHeaders,
      // A source address of its own (127.0.0.x): past ~28,000 sockets one address runs out
      // of ephemeral ports towards one server port.
      ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
    });
    this.ws.on('message', (data, isBinary) => {
      if (isBinary) return this._fire('__binary');
      this._onPacket(typeof data === 'string' ? data : data.toString());
    });
    this.ws.on('error', (err) => {
      if (!this.connected) this._connectError(err && err.message ? err.message : String(err));
    });
    this.ws.on('close', () => {
      const was = this.connected;
      this.connected = false;
      if (was) {
        const reason = this._closedByUs
          ? 'io client disconnect'
          : this._serverDisconnect
            ? 'io server disconnect'
            : 'transport close';
        this._fire('disconnect', reason);
      } else this._connectError('websocket closed before connect');
    });
  }

  get extensions() {
    return this.ws.extensions || '';
  }

  on(event, fn) {
    this.handlers.set(event, fn);
    return this;
  }

  _fire(event, a, b) {
    const fn = this.handlers.get(event);
    if (fn) fn(a, b);
  }

  _connectError(message, data) {
    if (this._failed || this._closedByUs) return;
    this._failed = true;
    this._fire('connect_error', new ConnectError(message, data));
    this._close();
  }

  _close() {
    try {
      this.ws.close();
    } catch {
      this.ws.terminate();
    }
  }

  _send(s) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(s);
  }

  _onPacket(s) {
    switch (s.charCodeAt(0)) {
      case 50: // '2' engine.io ping
        this._send('3');
        return;
      case 48: // '0' engine.io open -> socket.io CONNECT with the auth payload
        this._send(this._auth ? `40${JSON.stringify(this._auth)}` : '40');
        return;
      case 49: // '1' engine.io close
        this._serverDisconnect = true;
        this._close();
        return;
      case 52: // '4' engine.io message = a socket.io packet
        break;
      default:
        return;
    }
    const type = s.charCodeAt(1);
    if (type === 50 || type === 51) {
      // '2' EVENT or '3' ACK: optional ack id digits, then a JSON array
      let i = 2;
      if (s.charCodeAt(i) === 47) i = s.indexOf(',', i) + 1; // '/nsp,' (not used by campfire)
      let id = -1;
      while (i < s.length) {
        const c = s.charCodeAt(i);
        if (c < 48 || c > 57) break;
        id = (id < 0 ? 0 : id * 10) + (c - 48);
        i++;
      }
      const args = JSON.parse(s.slice(i));
      if (type === 51) {
        const cb = this.acks.get(id);
        if (cb) {
          this.acks.delete(id);
          cb(args[0], args[1]);
        }
        return;
      }
      const fn = this.handlers.get(args[0]);
      if (id >= 0) {
        const reply = (...r) => this._send(`43${id}${JSON.stringify(r)}`);
        if (fn) fn(args[1], reply);
      } else if (fn) fn(args[1], args[2]);
      return;
    }
    if (type === 48) {
      // '0' CONNECT ok: {sid}
      const body = s.length > 2 ? JSON.parse(s.slice(2)) : {};
      this.id = body.sid;
      this.connected = true;
      this._fire('connect');
      return;
    }
    if (type === 52) {
      // '4' CONNECT_ERROR: {message, data}
      let body = {};
      try {
        body = JSON.parse(s.slice(2));
      } catch {
        /* keep the empty body */
      }
      this._connectError(body.message || 'connect_error', body.data);
      return;
    }
    if (type === 49) {
      // '1' DISCONNECT from the server
      this._serverDisconnect = true;
      this._close();
      return;
    }
    this._fire('__binary');
  }

  emit(event, data, ack) {
    if (ack) {
      const id = this.ackId++;
      this.acks.set(id, ack);
      this._send(`42${id}${JSON.stringify([event, data])}`);
    } else this._send(`42${JSON.stringify([event, data])}`);
    return this;
  }

  disconnect() {
    if (this._closedByUs) return this;
    this._closedByUs = true;
    if (this.connected) this._send('41');
    this._close();
    return this;
  }
}

function leanIo(url, opts) {
  return new LeanSocket(url, opts);
}

module.exports = { leanIo, LeanSocket };
