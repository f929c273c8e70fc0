'use strict';
// One load-generator worker process: holds a slice of the connections, sends, receives,
// checks seq and acks, and records latencies. Driven by loadgen.js over Node IPC.

const { io } = require('socket.io-client');
const { leanIo } = require('./leanclient');
const { randomUUID } = require('crypto');
const { Hist } = require('./hist');

// CLOCK_MONOTONIC in microseconds: one clock for every process on the machine, so a send
// time written by one worker can be compared with a receive time read by another.
const nowUs = () => Number(process.hrtime.bigint()) / 1000;

let cfg = null; // the parts of the config this worker needs
let clients = []; // {spec, sock, lastSeq, cursor, ready, closing, ...}
let PREFIX = '';
let PAD = '';

const tags = new Map(); // tag -> per-tag stats
const bins = new Map(); // 100 ms receive-time bin -> deliveries of this run's messages
const counters = {
  seq_gaps: 0, // messages missing between two seqs a socket saw in one room
  seq_backwards: 0, // a seq at or below one already seen (duplicate or reordering)
  foreign_messages: 0, // NewMessage events that are not from this run (replays of older runs)
  malformed_events: 0,
  unexpected_disconnects: {},
  server_disconnects: {}, // Disconnect {reason} events from the server
  server_errors: {}, // Error events
};

function bump(obj, key, n = 1) {
  obj[key] = (obj[key] || 0) + n;
}

function tagStat(tag) {
  let t = tags.get(tag);
  if (!t) {
    t = {
      delivered: 0,
      hist: new Hist(),
      sent: 0,
      acked: 0,
      errors: {},
      skipped: 0,
      ackHist: new Hist(),
      ack_seq_backwards: 0,
    };
    tags.set(tag, t);
  }
  return t;
}

function onNewMessage(c, d) {
  const m = d && d.message;
  if (!m || typeof m.seq !== 'number') {
    counters.malformed_events++;
    return;
  }
  const room = m.room_id || d.room_id;
  const last = c.lastSeq[room];
  if (last === undefined) c.lastSeq[room] = m.seq;
  else if (m.seq === last + 1) c.lastSeq[room] = m.seq;
  else if (m.seq > last + 1) {
    counters.seq_gaps += m.seq - last - 1;
    c.lastSeq[room] = m.seq;
  } else counters.seq_backwards++;

  if (c.storm) {
    if (!c.storm.syncUs) {
      c.storm.before++;
      const exp = c.storm.expect[room];
      if (exp !== undefined) {
        if (m.seq !== exp) c.storm.order_errors++;
        c.storm.expect[room] = m.seq + 1;
      }
    } else c.storm.after++;
  }

  const content = m.content;
  if (typeof content !== 'string' || !content.startsWith(PREFIX)) {
    counters.foreign_messages++;
    return;
  }
  const i = content.indexOf('|', PREFIX.length);
  const j = content.indexOf('|', i + 1);
  const tag = content.slice(PREFIX.length, i);
  const sentUs = Number(content.slice(i + 1, j));
  const now = nowUs();
  const t = tagStat(tag);
  t.delivered++;
  t.hist.add(now - sentUs);
  const b = Math.floor(now / 1e5);
  bins.set(b, (bins.get(b) || 0) + 1);
}

function sendOne(c, tag, t, onAck) {
  const sentUs = nowUs();
  let content = `${PREFIX}${tag}|${Math.round(sentUs)}|`;
  if (content.length < PAD.length) content += PAD.slice(content.length);
  c.inflight++;
  t.sent++;
  c.sock.emit(
    'NewMessage',
    { room_id: c.spec.send_room, content, client_message_id: randomUUID() },
    (ack) => {
      c.inflight--;
      if (ack && ack.type === 'MessageDelivered' && ack.data) {
        t.acked++;
        t.ackHist.add(nowUs() - sentUs);
        const seq = ack.data.seq;
        if (typeof seq === 'number') {
          if (seq <= c.lastAckSeq) t.ack_seq_backwards++;
          c.lastAckSeq = seq;
        }
      } else {
        bump(t.errors, (ack && ack.data && ack.data.code) || 'bad_ack');
      }
      if (onAck) onAck();
    },
  );
}

function connectClient(c, extraAuth, readyTimeoutMs) {
  return new Promise((resolve) => {
    const t0 = nowUs();
    let done = false;
    const spec = c.spec;
    const url = cfg.urls[spec.url_index || 0];
    const auth = cfg.mode === 'campfire' ? { token: spec.token, ...extraAuth } : {};
    c.closing = false;
    c.connected = false;
    c.ready = false;
    c.inflight = 0;
    c.lastAckSeq = -1;
    const sock =
      cfg.client === 'socket.io-client'
        ? io(url, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: readyTimeoutMs, auth })
        : leanIo(url, {
            timeout: readyTimeoutMs,
            auth,
            perMessageDeflate: cfg.deflate !== false,
            localAddress: spec.local_address,
          });
    c.sock = sock;
    const finish = (ok, code) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      c.ready = ok;
      c.readyUs = nowUs();
      if (!ok && !c.closing) {
        c.closing = true;
        sock.disconnect();
      }
      resolve({ ok, code, us: c.readyUs - t0 });
    };
    const timer = setTimeout(() => finish(false, 'ready_timeout'), readyTimeoutMs);
    sock.on('connect_error', (err) =>
      finish(false, (err && err.data && err.data.code) || String((err && err.message) || err)),
    );
    sock.on('connect', () => {
      c.connected = true;
      const ws = sock.io ? sock.io.engine && sock.io.engine.transport && sock.io.engine.transport.ws : sock.ws;
      c.deflate = !!(ws && typeof ws.extensions === 'string' && ws.extensions.includes('deflate'));
      if (cfg.mode !== 'campfire') {
        const rooms = spec.rooms || [];
        let left = rooms.length;
        if (!left) finish(true);
        for (const room of rooms) {
          sock.emit('JoinRoom', { room_id: room }, (ack) => {
            if (!ack || ack.type !== 'RoomJoined') finish(false, 'join_failed');
            else if (--left === 0) finish(true);
          });
        }
      }
    });
    sock.on('NewMessage', (d) => onNewMessage(c, d));
    sock.on('Disconnect', (d) => bump(counters.server_disconnects, (d && d.reason) || '?'));
    sock.on('Error', (d) => bump(counters.server_errors, (d && d.code) || '?'));
    sock.on('AuthError', (d) => finish(false, (d && d.code) || 'auth_error'));
    sock.on('disconnect', (reason) => {
      c.connected = false;
      if (!c.closing) bump(counters.unexpected_disconnects, reason);
      finish(false, `disconnected:${reason}`);
    });
    if (cfg.mode === 'campfire') {
      sock.on('AuthSuccess', (d) => {
        c.authUs = nowUs();
        c.connectionId = d && d.connection_id;
      });
      sock.on('SyncComplete', (d) => {
        if (c.storm && !c.storm.syncUs) {
          c.storm.syncUs = nowUs();
          c.storm.missed_count = d && d.missed_count;
          c.storm.truncated = d && d.truncated;
        }
        for (const r of (d && d.rooms) || []) {
          if (c.lastSeq[r.room_id] === undefined) c.lastSeq[r.room_id] = r.last_seq;
        }
        if (!c.authUs) bump(counters.server_errors, 'sync_before_auth');
        finish(true);
      });
    }
  });
}

async function pool(items, n, fn) {
  let i = 0;
  const run = async () => {
    while (i < items.length) {
      const it = items[i++];
      await fn(it);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, items.length)) }, run));
}

function summariseConnect(results) {
  const hist = new Hist();
  const failed = {};
  let ok = 0;
  for (const r of results) {
    if (r.ok) {
      ok++;
      hist.add(r.us);
    } else bump(failed, r.code);
  }
  const rooms = {};
  for (const c of clients) {
    if (!c.ready) continue;
    for (const room of c.spec.rooms || []) bump(rooms, room);
  }
  return {
    attempted: results.length,
    ready: ok,
    failed,
    hist: hist.toJSON(),
    room_sockets: rooms,
    deflate: clients.filter((c) => c.ready && c.deflate).length,
    senders: clients.filter((c) => c.ready && c.spec.send_room).length,
  };
}

const handlers = {
  init(args) {
    cfg = args.cfg;
    PREFIX = `b|${cfg.run_id}|`;
    PAD = 'x'.repeat(cfg.content_bytes || 64);
    clients = args.clients.map((spec) => ({ spec, lastSeq: { ...(spec.last_seen || {}) } }));
    return { clients: clients.length };
  },

  async connect(args) {
    const which = clients.filter((c) => (args.role ? (c.spec.role || 'member') === args.role : true));
    const results = [];
    const deadline = args.budget_ms ? Date.now() + args.budget_ms : Infinity;
    let skipped = 0;
    await pool(which, args.concurrency, async (c) => {
      if (Date.now() > deadline) {
        skipped++;
        return;
      }
      const extra = cfg.mode === 'campfire' && c.spec.last_seen ? { last_seen: c.spec.last_seen } : {};
      results.push(await connectClient(c, extra, args.ready_timeout_ms));
    });
    return { ...summariseConnect(results), not_attempted_over_budget: skipped };
  },

  send(args) {
    // Open loop: every ready sender sends `rate` messages/s for `dur_us`, skipping a send
    // (and counting it) when it already waits for `cap` acks.
    const t = tagStat(args.tag);
    const senders = clients.filter((c) => c.ready && c.connected && c.spec.send_room);
    senders.forEach((c, i) => {
      c.stepSent = 0;
      c.phase = (i + args.phase_offset) / args.phase_div;
    });
    const start = nowUs();
    const end = start + args.dur_us;
    return new Promise((resolve) => {
      const tick = () => {
        const now = nowUs();
        const el = Math.min(now, end) - start;
        for (const c of senders) {
          const due = Math.floor((el * args.rate) / 1e6 + c.phase);
          let n = due - c.stepSent;
          while (n-- > 0) {
            c.stepSent++;
            if (c.inflight >= args.cap || !c.connected) t.skipped++;
            else sendOne(c, args.tag, t);
          }
        }
        if (now >= end) {
          clearInterval(iv);
          resolve({ start_us: start, end_us: nowUs() });
        }
      };
      const iv = setInterval(tick, cfg.tick_ms || 5);
    });
  },

  closedLoop(args) {
    // Closed loop: every ready sender keeps `window` messages in flight for `dur_us`
    // (or sends exactly `count` messages when count is given), then waits for the acks.
    const t = tagStat(args.tag);
    const senders = clients.filter(
      (c) => c.ready && c.connected && c.spec.send_room && (!args.role || c.spec.role === args.role),
    );
    const start = nowUs();
    const end = start + (args.dur_us || 0);
    let ackedInWindow = 0;
    return new Promise((resolve) => {
      let open = senders.length;
      if (!open) resolve({ start_us: start, end_us: start, acked_in_window: 0 });
      const hard = setTimeout(() => {
        open = 0;
        resolve({ start_us: start, end_us: nowUs(), acked_in_window: ackedInWindow, timed_out: true });
      }, args.timeout_ms);
      for (const c of senders) {
        c.loopSent = 0;
        const more = () => (args.count ? c.loopSent < args.count : nowUs() < end);
        const pump = () => {
          if (!args.count && nowUs() <= end) ackedInWindow++;
          while (c.connected && c.inflight < args.window && more()) {
            c.loopSent++;
            sendOne(c, args.tag, t, pump);
          }
          if (c.inflight === 0 && !c.doneLoop && (!more() || !c.connected)) {
            c.doneLoop = true;
            if (--open === 0) {
              clearTimeout(hard);
              resolve({ start_us: start, end_us: nowUs(), acked_in_window: ackedInWindow });
            }
          }
        };
        c.doneLoop = false;
        // the first call is not an ack
        while (c.connected && c.inflight < args.window && more()) {
          c.loopSent++;
          sendOne(c, args.tag, t, pump);
        }
        if (c.inflight === 0) {
          c.doneLoop = true;
          if (--open === 0) {
            clearTimeout(hard);
            resolve({ start_us: start, end_us: nowUs(), acked_in_window: ackedInWindow });
          }
        }
      }
    });
  },

  stats(args) {
    const out = {};
    for (const tag of args.tags || [...tags.keys()]) {
      const t = tags.get(String(tag));
      if (!t) continue;
      out[tag] = {
        delivered: t.delivered,
        hist: t.hist.toJSON(),
        sent: t.sent,
        acked: t.acked,
        errors: t.errors,
        skipped: t.skipped,
        ackHist: t.ackHist.toJSON(),
        ack_seq_backwards: t.ack_seq_backwards,
        inflight: 0,
      };
    }
    let inflight = 0;
    for (const c of clients) if (c.inflight) inflight += c.inflight;
    const b = [];
    if (args.bins_from !== undefined) {
      for (const [k, v] of bins) if (k >= args.bins_from && k < args.bins_to) b.push([k, v]);
    }
    return {
      tags: out,
      inflight,
      bins: b,
      counters,
      connected: clients.filter((c) => c.connected).length,
      cpu: process.cpuUsage(),
      rss: process.memoryUsage().rss,
    };
  },

  cpu() {
    return { cpu: process.cpuUsage(), rss: process.memoryUsage().rss };
  },

  close(args) {
    let n = 0;
    for (const c of clients) {
      if (args && args.role && (c.spec.role || 'member') !== args.role) continue;
      if (c.sock) {
        c.closing = true;
        c.sock.disconnect();
        n++;
      }
    }
    return { closed: n };
  },

  async storm(args) {
    // Reconnect every member socket at once with the cursor it had, and time SyncComplete.
    const members = clients.filter((c) => (c.spec.role || 'member') === 'member');
    const senderRooms = new Set(args.sender_rooms);
    for (const c of members) {
      const cursor = { ...c.lastSeq };
      const expect = {};
      let expected = 0;
      for (const room of c.spec.rooms || []) {
        if (senderRooms.has(room) && cursor[room] !== undefined) {
          expect[room] = cursor[room] + 1;
          expected += args.per_room;
        }
      }
      c.storm = { cursor, expect, expected, before: 0, after: 0, order_errors: 0, syncUs: 0 };
    }
    const t0 = nowUs();
    const results = await Promise.all(
      members.map((c) => connectClient(c, { last_seen: c.storm.cursor }, args.ready_timeout_ms)),
    );
    const hist = new Hist();
    const failed = {};
    let wrongCount = 0;
    let missedMismatch = 0;
    let orderErrors = 0;
    let replayed = 0;
    let expected = 0;
    let truncated = 0;
    let last = 0;
    results.forEach((r, i) => {
      const c = members[i];
      if (!r.ok) {
        bump(failed, r.code);
        return;
      }
      const dt = c.storm.syncUs - args.t0_us;
      hist.add(dt);
      if (c.storm.syncUs > last) last = c.storm.syncUs;
      replayed += c.storm.before;
      expected += c.storm.expected;
      if (c.storm.before !== c.storm.expected) wrongCount++;
      if (c.storm.missed_count !== c.storm.expected) missedMismatch++;
      if (c.storm.truncated) truncated++;
      orderErrors += c.storm.order_errors;
    });
    return {
      clients: members.length,
      synced: results.filter((r) => r.ok).length,
      failed,
      hist: hist.toJSON(),
      worker_t0_us: t0,
      last_sync_us: last,
      replayed,
      expected,
      wrong_count_clients: wrongCount,
      missed_count_mismatch_clients: missedMismatch,
      truncated_clients: truncated,
      order_errors: orderErrors,
    };
  },

  exit() {
    for (const c of clients) {
      if (c.sock) {
        c.closing = true;
        c.sock.disconnect();
      }
    }
    setTimeout(() => process.exit(0), 50);
    return {};
  },
};

process.on('message', async (m) => {
  let r;
  try {
    r = await handlers[m.cmd](m.args || {});
  } catch (e) {
    r = { error: String((e && e.stack) || e) };
  }
  process.send({ id: m.id, r });
});
process.on('disconnect', () => process.exit(0));
