#!/usr/bin/env node
'use strict';
// Campfire load generator (coordinator). Usage: node loadgen.js CONFIG.json
//
// Speaks PROTOCOL.md over the websocket transport only. The config (written by bench/run)
// names the scenario, the server URLs (127.0.0.1 only), the server PIDs to sample from /proc,
// and one entry per connection (token, rooms, cursor, sender role). Forks `workers` worker
// processes, splits the connections among them, drives the scenario, and prints one JSON
// object on stdout. Progress goes to stderr. Every phase is bounded in time.

const fs = require('fs');
const path = require('path');
const { fork } = require('child_process');
const { randomBytes } = require('crypto');
const { Hist } = require('./hist');

const nowUs = () => Number(process.hrtime.bigint()) / 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => process.stderr.write(`[loadgen] ${a.join(' ')}\n`);
const r2 = (x) => (x === null || x === undefined ? null : Math.round(x * 100) / 100);

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
cfg.run_id = cfg.run_id || randomBytes(4).toString('hex');
const CLK_TCK = cfg.clk_tck || 100;

for (const u of cfg.urls) {
  const host = new URL(u).hostname;
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '::1' && host !== '[::1]') {
    throw new Error(`refusing non-loopback target ${u}`);
  }
}

// ---------- server sampling from /proc ----------
function serverCpuTicks(pids = cfg.server_pids) {
  let t = 0;
  for (const pid of pids || []) {
    try {
      const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      t += Number(f[11]) + Number(f[12]);
    } catch {
      /* process gone */
    }
  }
  return t;
}

function serverRssKb() {
  const out = [];
  for (const pid of cfg.server_pids || []) {
    try {
      const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      const m = /VmRSS:\s+(\d+) kB/.exec(s);
      out.push(m ? Number(m[1]) : null);
    } catch {
      out.push(null);
    }
  }
  return out;
}

// Busy CPU of the whole machine in clock ticks (/proc/stat), to tell how much CPU processes
// other than the server under test and this load generator took during a measurement.
function machineBusyTicks() {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal
    return f[0] + f[1] + f[2] + f[5] + f[6] + f[7];
  } catch {
    return 0;
  }
}

function serverAlive() {
  return (cfg.server_pids || []).every((pid) => fs.existsSync(`/proc/${pid}`));
}

// ---------- workers ----------
const W = Math.max(1, cfg.workers || 2);
const workers = [];
const pending = new Map();
let rpcId = 0;

function call(w, cmd, args) {
  return new Promise((resolve, reject) => {
    const id = ++rpcId;
    pending.set(id, { resolve, reject });
    w.send({ id, cmd, args });
  });
}
async function callAll(cmd, args) {
  const rs = await Promise.all(workers.map((w) => call(w, cmd, args)));
  for (const r of rs) if (r && r.error) throw new Error(`worker ${cmd}: ${r.error}`);
  return rs;
}

function startWorkers() {
  const execArgv = [];
  if (cfg.worker_heap_mb) execArgv.push(`--max-old-space-size=${cfg.worker_heap_mb}`);
  for (let i = 0; i < W; i++) {
    const w = fork(path.join(__dirname, 'worker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: execArgv.concat(process.env.LG_PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : []) });
    w.on('message', (m) => {
      const p = pending.get(m.id);
      if (p) {
        pending.delete(m.id);
        p.resolve(m.r);
      }
    });
    w.on('exit', (code) => {
      if (!shuttingDown) {
        log(`worker ${i} exited with ${code}`);
        for (const p of pending.values()) p.reject(new Error(`worker ${i} exited`));
        pending.clear();
      }
    });
    workers.push(w);
  }
}

let shuttingDown = false;
async function stopWorkers() {
  shuttingDown = true;
  const exited = workers.map((w) => (w.exitCode !== null ? Promise.resolve() : new Promise((r) => w.once('exit', r))));
  await Promise.race([callAll('exit', {}).catch(() => {}), sleep(2000)]);
  await Promise.race([Promise.all(exited), sleep(5000)]);
  for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
}

async function initWorkers(clients) {
  const slices = Array.from({ length: W }, () => []);
  clients.forEach((c, i) => slices[i % W].push(c));
  const wcfg = {
    mode: cfg.mode,
    client: cfg.client || 'lean',
    urls: cfg.urls,
    run_id: cfg.run_id,
    content_bytes: cfg.content_bytes || 64,
    tick_ms: cfg.tick_ms || 5,
    deflate: cfg.deflate !== false,
  };
  await Promise.all(workers.map((w, i) => call(w, 'init', { cfg: wcfg, clients: slices[i] })));
}

async function loadgenCpu() {
  const rs = await callAll('cpu', {});
  const own = process.cpuUsage();
  let us = own.user + own.system;
  let sys = own.system;
  let rss = process.memoryUsage().rss;
  for (const r of rs) {
    us += r.cpu.user + r.cpu.system;
    sys += r.cpu.system;
    rss += r.rss;
  }
  return { us, sys, rss };
}

function mergeConnect(rs) {
  const out = { attempted: 0, ready: 0, failed: {}, room_sockets: {}, deflate: 0, senders: 0, not_attempted_over_budget: 0 };
  const h = new Hist();
  for (const r of rs) {
    out.attempted += r.attempted;
    out.ready += r.ready;
    out.deflate += r.deflate;
    out.senders += r.senders;
    out.not_attempted_over_budget += r.not_attempted_over_budget || 0;
    for (const [k, v] of Object.entries(r.failed)) out.failed[k] = (out.failed[k] || 0) + v;
    for (const [k, v] of Object.entries(r.room_sockets)) out.room_sockets[k] = (out.room_sockets[k] || 0) + v;
    h.merge(r.hist);
  }
  const s = h.summary();
  out.ready_ms = { p50: s.p50_ms, p99: s.p99_ms, max: s.max_ms };
  return out;
}

async function connectAll(extra = {}) {
  const t0 = nowUs();
  const conc = Math.max(1, Math.ceil((cfg.connect_concurrency || 100) / W));
  const rs = await callAll('connect', {
    concurrency: conc,
    ready_timeout_ms: (cfg.connect_timeout_s || 60) * 1000,
    budget_ms: cfg.connect_budget_s ? cfg.connect_budget_s * 1000 : 0,
    ...extra,
  });
  const out = mergeConnect(rs);
  out.seconds = r2((nowUs() - t0) / 1e6);
  out.per_second = r2(out.ready / Math.max(1e-6, (nowUs() - t0) / 1e6));
  return out;
}

function mergeStats(rs, tagList) {
  const out = { tags: {}, inflight: 0, bins: new Map(), counters: {}, connected: 0 };
  for (const tag of tagList) {
    out.tags[tag] = {
      delivered: 0,
      hist: new Hist(),
      sent: 0,
      acked: 0,
      errors: {},
      skipped: 0,
      ackHist: new Hist(),
      ack_seq_backwards: 0,
    };
  }
  const sumInto = (dst, src) => {
    for (const [k, v] of Object.entries(src)) {
      if (typeof v === 'number') dst[k] = (dst[k] || 0) + v;
      else {
        dst[k] = dst[k] || {};
        sumInto(dst[k], v);
      }
    }
  };
  for (const r of rs) {
    out.inflight += r.inflight;
    out.connected += r.connected;
    sumInto(out.counters, r.counters);
    for (const [b, n] of r.bins) out.bins.set(b, (out.bins.get(b) || 0) + n);
    for (const [tag, t] of Object.entries(r.tags)) {
      const o = out.tags[tag];
      if (!o) continue;
      o.delivered += t.delivered;
      o.hist.merge(t.hist);
      o.sent += t.sent;
      o.acked += t.acked;
      o.skipped += t.skipped;
      o.ack_seq_backwards += t.ack_seq_backwards;
      o.ackHist.merge(t.ackHist);
      for (const [k, v] of Object.entries(t.errors)) o.errors[k] = (o.errors[k] || 0) + v;
    }
  }
  return out;
}

async function stats(tagList, binsFrom, binsTo) {
  const rs = await callAll('stats', { tags: tagList, bins_from: binsFrom, bins_to: binsTo });
  return mergeStats(rs, tagList);
}

// ---------- scenarios ----------

async function fanout() {
  const conn = await connectAll();
  log(`connected ${conn.ready}/${conn.attempted} in ${conn.seconds}s (${JSON.stringify(conn.failed)})`);
  if (conn.ready === 0) throw new Error(`no connection became ready: ${JSON.stringify(conn.failed)}`);
  const senders = cfg.clients.filter((c) => c.send_room);
  // deliveries per "one message from every sender" = sum of ready sockets of the senders' rooms
  const perRound = senders.reduce((a, s) => a + (conn.room_sockets[s.send_room] || 0), 0);
  const pass = { min_ratio: 0.95, max_p99_ms: 500, max_skip_ratio: 0.01, ...(cfg.pass || {}) };
  const steps = [];
  let sustained = 0;
  let peak = 0;
  await sleep((cfg.settle_s || 1) * 1000);
  for (const [k, step] of cfg.steps.entries()) {
    if (!serverAlive()) {
      log('server process is gone; stopping');
      break;
    }
    const rate = step.offered / perRound; // messages/s per sender
    const cap = Math.max(50, Math.ceil(rate * (cfg.inflight_cap_s || 1)));
    const sendArgs = (tag, durS) => ({
      tag,
      rate,
      cap,
      dur_us: durS * 1e6,
      phase_div: senders.length,
    });
    const warmTag = `w${k}`;
    const tag = `s${k}`;
    const phaseArgs = (tagName, durS) =>
      workers.map((w, i) => call(w, 'send', { ...sendArgs(tagName, durS), phase_offset: i }));
    if (step.warmup_s) await Promise.all(phaseArgs(warmTag, step.warmup_s));
    const cpu0 = await loadgenCpu();
    const srv0 = serverCpuTicks();
    // Helpers of the server under test (e.g. Redis), each reported on its own, not in the server's CPU
    const aux0 = Object.fromEntries(Object.entries(cfg.aux_pids || {}).map(([k, pid]) => [k, serverCpuTicks([pid])]));
    const busy0 = machineBusyTicks();
    const tStart = nowUs();
    await Promise.all(phaseArgs(tag, step.duration_s));
    const tEnd = nowUs();
    const srv1 = serverCpuTicks();
    const aux1 = Object.fromEntries(Object.entries(cfg.aux_pids || {}).map(([k, pid]) => [k, serverCpuTicks([pid])]));
    const busy1 = machineBusyTicks();
    const cpu1 = await loadgenCpu();
    const wallS = (tEnd - tStart) / 1e6;
    // drain: wait until every acked message reached every socket of its room, or no progress
    const drainStart = nowUs();
    let st;
    let lastDelivered = -1;
    let lastProgress = nowUs();
    for (;;) {
      st = await stats([tag, warmTag], Math.floor(tStart / 1e5), Math.ceil(tEnd / 1e5));
      const t = st.tags[tag];
      const roomsPer = perRound / Math.max(1, senders.length);
      const expected = t.acked * roomsPer;
      const settled = st.inflight === 0 && t.delivered >= expected && st.tags[warmTag].delivered >= st.tags[warmTag].acked * roomsPer;
      if (settled) break;
      // progress on either tag: a saturated server may still be working off the warm-up
      const progress = t.delivered + st.tags[warmTag].delivered;
      if (progress !== lastDelivered) {
        lastDelivered = progress;
        lastProgress = nowUs();
      }
      if (nowUs() - lastProgress > 2e6 || nowUs() - drainStart > (cfg.drain_timeout_s || 10) * 1e6) break;
      await sleep(200);
    }
    const t = st.tags[tag];
    // deliveries of any of this run's messages received inside the measured window
    let inWindow = 0;
    for (const [b, n] of st.bins) {
      const bStart = b * 1e5;
      const bEnd = bStart + 1e5;
      const overlap = Math.max(0, Math.min(bEnd, tEnd) - Math.max(bStart, tStart));
      inWindow += (n * overlap) / 1e5;
    }
    const achieved = inWindow / wallS;
    const lat = t.hist.summary();
    const ack = t.ackHist.summary();
    const offeredMsgs = rate * senders.length * wallS;
    const expectedDeliveries = t.acked * (perRound / Math.max(1, senders.length));
    const lgCpuPct = ((cpu1.us - cpu0.us) / (wallS * 1e6)) * 100;
    const srvCpuPct = (((srv1 - srv0) / CLK_TCK) / wallS) * 100;
    const res = {
      offered_deliveries_per_s: step.offered,
      achieved_deliveries_per_s: Math.round(achieved),
      ratio: r2(achieved / step.offered),
      messages_per_s_offered: r2(rate * senders.length),
      sent: t.sent,
      acked: t.acked,
      skipped_over_inflight_cap: t.skipped,
      send_errors: t.errors,
      delivered: t.delivered,
      expected_deliveries: expectedDeliveries,
      missing_deliveries: Math.max(0, expectedDeliveries - t.delivered),
      unacked_after_drain: t.sent - t.acked - Object.values(t.errors).reduce((a, b) => a + b, 0),
      latency_ms: lat,
      ack_latency_ms: ack,
      ack_seq_backwards: t.ack_seq_backwards,
      window_s: r2(wallS),
      drain_s: r2((nowUs() - tEnd) / 1e6),
      server_cpu_pct: r2(srvCpuPct),
      server_cpu_us_per_delivery: achieved > 0 ? r2((((srv1 - srv0) / CLK_TCK) * 1e6) / (achieved * wallS)) : null,
      aux_cpu_us_per_delivery: Object.fromEntries(
        Object.keys(aux0).map((k) => [k, achieved > 0 ? r2((((aux1[k] - aux0[k]) / CLK_TCK) * 1e6) / (achieved * wallS)) : null]),
      ),
      aux_cpu_pct: Object.fromEntries(Object.keys(aux0).map((k) => [k, r2((((aux1[k] - aux0[k]) / CLK_TCK) / wallS) * 100)])),
      loadgen_cpu_pct: r2(lgCpuPct),
      loadgen_sys_cpu_pct: r2(((cpu1.sys - cpu0.sys) / (wallS * 1e6)) * 100),
      other_processes_cpu_pct: r2(Math.max(0, ((busy1 - busy0) / CLK_TCK / wallS) * 100 - srvCpuPct - lgCpuPct)),
      loadgen_bound: lgCpuPct > (cfg.loadgen_cpu_limit_pct || 90) * (cfg.loadgen_cores || 1),
      connected: st.connected,
      server_rss_kb: serverRssKb(),
    };
    res.pass =
      achieved >= pass.min_ratio * step.offered &&
      lat.p99_ms !== null &&
      lat.p99_ms <= pass.max_p99_ms &&
      t.skipped <= pass.max_skip_ratio * offeredMsgs &&
      res.connected === conn.ready;
    if (res.pass) sustained = Math.max(sustained, res.achieved_deliveries_per_s);
    peak = Math.max(peak, res.achieved_deliveries_per_s);
    steps.push(res);
    log(
      `step ${k}: offered ${step.offered}/s achieved ${res.achieved_deliveries_per_s}/s ` +
        `p50 ${lat.p50_ms} p99 ${lat.p99_ms} ms ack p99 ${ack.p99_ms} ms server cpu ${res.server_cpu_pct}% ` +
        `loadgen cpu ${res.loadgen_cpu_pct}% ${res.pass ? 'PASS' : 'FAIL'}`,
    );
    if (!res.pass && cfg.stop_on_fail !== false) break;
    if (res.loadgen_bound) {
      log('load generator is CPU-bound; stopping the sweep (figures are a lower bound)');
      break;
    }
  }
  const st = await stats([]);
  return {
    connect: conn,
    deliveries_per_message: r2(perRound / Math.max(1, senders.length)),
    senders: senders.length,
    pass_criteria: pass,
    sustained_deliveries_per_s: sustained,
    peak_deliveries_per_s: peak,
    loadgen_bound: steps.some((s) => s.loadgen_bound),
    steps,
    counters: st.counters,
  };
}

async function idle() {
  await sleep((cfg.settle_s || 1) * 1000);
  const rss0 = serverRssKb();
  const lg0 = await loadgenCpu();
  const busy0 = machineBusyTicks();
  const srvC0 = serverCpuTicks();
  const c0 = nowUs();
  const conn = await connectAll();
  const connS = (nowUs() - c0) / 1e6;
  const busy1 = machineBusyTicks();
  const srvC1 = serverCpuTicks();
  const lgC = await loadgenCpu();
  log(`connected ${conn.ready}/${conn.attempted} in ${conn.seconds}s (${JSON.stringify(conn.failed)})`);
  await sleep((cfg.settle_s || 2) * 1000);
  const rss1 = serverRssKb();
  const srv0 = serverCpuTicks();
  const h0 = nowUs();
  await sleep((cfg.hold_s || 10) * 1000);
  const holdS = (nowUs() - h0) / 1e6;
  const srv1 = serverCpuTicks();
  const rss2 = serverRssKb();
  const st = await stats([]);
  const lg1 = await loadgenCpu();
  const sum = (a) => a.reduce((x, y) => x + (y || 0), 0);
  const grown = sum(rss2) - sum(rss0);
  return {
    connect: conn,
    connections: conn.ready,
    still_connected_after_hold: st.connected,
    hold_s: r2(holdS),
    server_rss_kb_before: rss0,
    server_rss_kb_connected: rss1,
    server_rss_kb_after_hold: rss2,
    rss_per_connection_kb: conn.ready ? r2(grown / conn.ready) : null,
    server_cpu_pct_while_connecting: r2((((srvC1 - srvC0) / CLK_TCK) / connS) * 100),
    server_cpu_ms_per_connection: conn.ready ? r2((((srvC1 - srvC0) / CLK_TCK) * 1000) / conn.ready) : null,
    other_processes_cpu_pct: r2(
      Math.max(0, (((busy1 - busy0 - (srvC1 - srvC0)) / CLK_TCK - (lgC.us - lg0.us) / 1e6) / connS) * 100),
    ),
    server_idle_cpu_pct: r2((((srv1 - srv0) / CLK_TCK) / holdS) * 100),
    loadgen_rss_mb: r2(lg1.rss / 1048576),
    loadgen_cpu_s: r2((lg1.us - lg0.us) / 1e6),
    counters: st.counters,
  };
}

async function writes() {
  const conn = await connectAll();
  log(`connected ${conn.ready}/${conn.attempted} in ${conn.seconds}s (${JSON.stringify(conn.failed)})`);
  if (conn.ready === 0) throw new Error(`no connection became ready: ${JSON.stringify(conn.failed)}`);
  await sleep((cfg.settle_s || 1) * 1000);
  const loop = (tag, durS) =>
    callAll('closedLoop', {
      tag,
      window: cfg.window || 4,
      dur_us: durS * 1e6,
      timeout_ms: (durS + 20) * 1000,
    });
  if (cfg.warmup_s) await loop('wr_warm', cfg.warmup_s);
  const cpu0 = await loadgenCpu();
  const srv0 = serverCpuTicks();
  const busy0 = machineBusyTicks();
  const rs = await loop('wr', cfg.duration_s || 5);
  const srv1 = serverCpuTicks();
  const busy1 = machineBusyTicks();
  const cpu1 = await loadgenCpu();
  const start = Math.min(...rs.map((r) => r.start_us));
  const windowS = (cfg.duration_s || 5);
  const wallS = (Math.max(...rs.map((r) => r.end_us)) - start) / 1e6;
  const ackedInWindow = rs.reduce((a, r) => a + r.acked_in_window, 0);
  const st = await stats(['wr']);
  const t = st.tags.wr;
  return {
    connect: conn,
    writers: conn.senders,
    window_per_writer: cfg.window || 4,
    duration_s: windowS,
    sent: t.sent,
    acked: t.acked,
    errors: t.errors,
    persisted_messages_per_s: Math.round(ackedInWindow / windowS),
    ack_latency_ms: t.ackHist.summary(),
    delivered_to_sockets: t.delivered,
    ack_seq_backwards: t.ack_seq_backwards,
    server_cpu_pct: r2((((srv1 - srv0) / CLK_TCK) / wallS) * 100),
    loadgen_cpu_pct: r2(((cpu1.us - cpu0.us) / (wallS * 1e6)) * 100),
    other_processes_cpu_pct: r2(
      Math.max(0, (((busy1 - busy0) / CLK_TCK - (srv1 - srv0) / CLK_TCK - (cpu1.us - cpu0.us) / 1e6) / wallS) * 100),
    ),
    timed_out: rs.some((r) => r.timed_out),
    counters: st.counters,
  };
}

async function storm() {
  const conn = await connectAll();
  log(`connected ${conn.ready}/${conn.attempted} in ${conn.seconds}s (${JSON.stringify(conn.failed)})`);
  if (conn.ready === 0) throw new Error(`no connection became ready: ${JSON.stringify(conn.failed)}`);
  await sleep((cfg.settle_s || 1) * 1000);
  const closed = await callAll('close', { role: 'member' });
  await sleep((cfg.offline_s || 2) * 1000);
  const perRoom = cfg.missed || 20;
  const senderRooms = cfg.clients.filter((c) => c.role === 'sender').map((c) => c.send_room);
  const burst = await callAll('closedLoop', {
    tag: 'missed',
    role: 'sender',
    window: 5,
    count: perRoom,
    timeout_ms: 60000,
  });
  const st0 = await stats(['missed']);
  log(`sent ${st0.tags.missed.acked} messages while ${closed.reduce((a, r) => a + r.closed, 0)} sockets were away`);
  await sleep(500);
  const srv0 = serverCpuTicks();
  const busy0 = machineBusyTicks();
  const lg0 = await loadgenCpu();
  const t0 = nowUs();
  const rs = await callAll('storm', {
    t0_us: t0,
    per_room: perRoom,
    sender_rooms: senderRooms,
    ready_timeout_ms: (cfg.storm_timeout_s || 30) * 1000,
  });
  const srv1 = serverCpuTicks();
  const busy1 = machineBusyTicks();
  const lg1 = await loadgenCpu();
  const stormS = (nowUs() - t0) / 1e6;
  const h = new Hist();
  const out = {
    clients: 0,
    synced: 0,
    failed: {},
    replayed: 0,
    expected: 0,
    wrong_count_clients: 0,
    missed_count_mismatch_clients: 0,
    truncated_clients: 0,
    order_errors: 0,
  };
  let last = 0;
  for (const r of rs) {
    h.merge(r.hist);
    last = Math.max(last, r.last_sync_us);
    for (const k of Object.keys(out)) {
      if (k === 'failed') for (const [c, n] of Object.entries(r.failed)) out.failed[c] = (out.failed[c] || 0) + n;
      else out[k] += r[k];
    }
  }
  const allS = last ? (last - t0) / 1e6 : null;
  const st = await stats([]);
  return {
    connect: conn,
    missed_per_room: perRoom,
    burst_acked: st0.tags.missed.acked,
    burst_errors: st0.tags.missed.errors,
    ...out,
    time_to_sync_ms: h.summary(),
    all_synced_s: r2(allS),
    deadline_s: cfg.deadline_s || 5,
    all_within_deadline: out.synced === out.clients && allS !== null && allS <= (cfg.deadline_s || 5),
    server_cpu_s: r2((srv1 - srv0) / CLK_TCK),
    loadgen_cpu_s: r2((lg1.us - lg0.us) / 1e6),
    other_processes_cpu_pct: r2(
      Math.max(0, (((busy1 - busy0 - (srv1 - srv0)) / CLK_TCK - (lg1.us - lg0.us) / 1e6) / stormS) * 100),
    ),
    counters: st.counters,
    burst_timed_out: burst.some((b) => b.timed_out),
  };
}

async function main() {
  const scenarios = { fanout, idle, writes, storm };
  const fn = scenarios[cfg.scenario];
  if (!fn) throw new Error(`unknown scenario ${cfg.scenario}`);
  const hardStop = setTimeout(() => {
    log(`hard time limit ${cfg.max_runtime_s || 600}s reached`);
    process.stdout.write(`${JSON.stringify({ scenario: cfg.scenario, target: cfg.target, error: 'timeout' })}\n`);
    for (const w of workers) w.kill('SIGKILL');
    process.exit(2);
  }, (cfg.max_runtime_s || 600) * 1000);
  const started = new Date().toISOString();
  startWorkers();
  let result;
  let code = 0;
  try {
    await initWorkers(cfg.clients);
    result = await fn();
  } catch (e) {
    result = { error: String((e && e.message) || e) };
    code = 1;
  }
  await stopWorkers();
  clearTimeout(hardStop);
  const out = {
    scenario: cfg.scenario,
    target: cfg.target,
    label: cfg.label || cfg.scenario,
    started,
    run_id: cfg.run_id,
    workers: W,
    client: cfg.client || 'lean',
    connections: cfg.clients.length,
    urls: cfg.urls,
    ...result,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(code);
}

main();
