#!/usr/bin/env node
'use strict';
// HTTP load generator for GET endpoints. Usage: node http.js CONFIG.json
//
// Config: {url (127.0.0.1 only), headers, workers, connections (keep-alive, per worker),
// phases: [{name, kind: "closed" | "rate", duration_s, warmup_s, rate (req/s, all workers)}],
// expect_status, expect_count: {key, n}, server_pids, clk_tck, max_runtime_s}.
// "closed": every connection sends its next request when the previous answer arrives (the
// saturation figure). "rate": requests start on a fixed schedule whatever the answers do, and
// latency counts from the scheduled start, so a stalled server shows as latency instead of
// as fewer requests (no coordinated omission). Prints one JSON object on stdout.

const fs = require('fs');
const http = require('http');
const { fork } = require('child_process');
const { Hist } = require('./hist');

const nowUs = () => Number(process.hrtime.bigint()) / 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const r2 = (x) => (x === null || x === undefined ? null : Math.round(x * 100) / 100);

// ---------------------------------------------------------------- worker
if (process.argv[2] === '--worker') {
  let cfg;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 << 16 });
  const get = (cb) => {
    const req = http.get(cfg.url, { agent, headers: cfg.headers || {} }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => cb(null, res.statusCode, Buffer.concat(chunks)));
    });
    req.on('error', (e) => cb(e));
  };
  const check = (status, body) => {
    if (status !== (cfg.expect_status || 200)) return `status_${status}`;
    if (cfg.expect_count) {
      try {
        const doc = JSON.parse(body);
        const n = (doc[cfg.expect_count.key] || []).length;
        if (n !== cfg.expect_count.n) return `count_${n}`;
      } catch {
        return 'bad_json';
      }
    }
    return null;
  };
  const runPhase = (ph) =>
    new Promise((resolve) => {
      const hist = new Hist();
      const errors = {};
      let done = 0;
      let inflight = 0;
      let skipped = 0;
      const t0 = nowUs();
      const end = t0 + ph.duration_s * 1e6;
      const verifyEvery = cfg.verify_every || 1;
      const finish = () => resolve({ done, errors, skipped, hist: hist.toJSON(), seconds: (nowUs() - t0) / 1e6 });
      const one = (startUs, next) => {
        inflight++;
        get((err, status, body) => {
          inflight--;
          const bad = err ? `error_${err.code || err.message}` : done % verifyEvery === 0 ? check(status, body) : status === 200 ? null : `status_${status}`;
          if (bad) errors[bad] = (errors[bad] || 0) + 1;
          else {
            done++;
            hist.add(nowUs() - startUs);
          }
          next();
        });
      };
      if (ph.kind === 'closed') {
        let open = cfg.connections;
        const loop = () => {
          if (nowUs() >= end) {
            if (--open === 0) finish();
            return;
          }
          one(nowUs(), loop);
        };
        for (let i = 0; i < cfg.connections; i++) loop();
        return;
      }
      // fixed rate: this worker's share; the agent opens more sockets when answers lag, up to
      // 4x `connections` in flight (beyond that a request is skipped, and counted)
      const interval = 1e6 / ph.rate;
      let k = 0;
      const tick = () => {
        const now = nowUs();
        while (t0 + k * interval <= now && t0 + k * interval < end) {
          const due = t0 + k * interval;
          k++;
          if (inflight >= 4 * cfg.connections) skipped++;
          else one(due, () => {});
        }
        if (now < end) setTimeout(tick, 1);
        else {
          const wait = () => (inflight === 0 || nowUs() > end + 10e6 ? finish() : setTimeout(wait, 5));
          wait();
        }
      };
      tick();
    });
  process.on('message', async (m) => {
    if (m.cmd === 'init') {
      cfg = m.cfg;
      process.send({ id: m.id, r: {} });
    } else if (m.cmd === 'phase') {
      const r = await runPhase(m.phase);
      const cpu = process.cpuUsage();
      process.send({ id: m.id, r: { ...r, cpu_us: cpu.user + cpu.system } });
    } else if (m.cmd === 'exit') {
      agent.destroy();
      process.exit(0);
    }
  });
  return;
}

// ---------------------------------------------------------------- coordinator
const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const host = new URL(cfg.url).hostname;
if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host)) throw new Error(`refusing non-loopback ${cfg.url}`);
const CLK_TCK = cfg.clk_tck || 100;
const W = Math.max(1, cfg.workers || 2);

function serverCpuTicks() {
  let t = 0;
  for (const pid of cfg.server_pids || []) {
    try {
      const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      t += Number(f[11]) + Number(f[12]);
    } catch {
      /* gone */
    }
  }
  return t;
}

const workers = [];
const pending = new Map();
let rpc = 0;
const call = (w, cmd, args) =>
  new Promise((resolve) => {
    const id = ++rpc;
    pending.set(id, resolve);
    w.send({ id, cmd, ...args });
  });
const callAll = (cmd, args) => Promise.all(workers.map((w) => call(w, cmd, args)));

async function phase(ph) {
  const share = ph.kind === 'rate' ? { ...ph, rate: ph.rate / W } : ph;
  if (ph.warmup_s) await callAll('phase', { phase: { ...share, duration_s: ph.warmup_s } });
  const srv0 = serverCpuTicks();
  const rs0 = await Promise.all(workers.map((w) => call(w, 'phase', { phase: share })));
  const srv1 = serverCpuTicks();
  const hist = new Hist();
  const errors = {};
  let done = 0;
  let skipped = 0;
  let seconds = 0;
  let cpuUs = 0;
  for (const r of rs0) {
    hist.merge(r.hist);
    done += r.done;
    skipped += r.skipped;
    seconds = Math.max(seconds, r.seconds);
    cpuUs += r.cpu_us;
    for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] || 0) + v;
  }
  return {
    name: ph.name,
    kind: ph.kind,
    offered_per_s: ph.kind === 'rate' ? ph.rate : null,
    requests: done,
    requests_per_s: Math.round(done / Math.max(1e-6, ph.duration_s)),
    errors,
    skipped_over_connections: skipped,
    latency_ms: hist.summary(),
    seconds: r2(seconds),
    server_cpu_pct: r2(((srv1 - srv0) / CLK_TCK / Math.max(1e-6, seconds)) * 100),
    loadgen_cpu_us_total: cpuUs,
  };
}

async function main() {
  const hard = setTimeout(() => {
    process.stdout.write(`${JSON.stringify({ error: 'timeout' })}\n`);
    for (const w of workers) w.kill('SIGKILL');
    process.exit(2);
  }, (cfg.max_runtime_s || 300) * 1000);
  for (let i = 0; i < W; i++) {
    const w = fork(__filename, ['--worker'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    w.on('message', (m) => {
      const p = pending.get(m.id);
      if (p) {
        pending.delete(m.id);
        p(m.r);
      }
    });
    workers.push(w);
  }
  const wcfg = { url: cfg.url, headers: cfg.headers, connections: Math.max(1, Math.ceil((cfg.connections || 16) / W)), expect_status: cfg.expect_status, expect_count: cfg.expect_count, verify_every: cfg.verify_every };
  await callAll('init', { cfg: wcfg });
  const out = { url: cfg.url, workers: W, connections: wcfg.connections * W, phases: [] };
  let prevCpu = 0;
  for (let ph of cfg.phases) {
    if (ph.kind === 'rate' && ph.rate_of) {
      // a share of an earlier closed phase's throughput, e.g. {rate_of: "saturation", share: 0.8}
      const ref = out.phases.find((x) => x.name === ph.rate_of);
      ph = { ...ph, rate: Math.max(1, Math.round((ref ? ref.requests_per_s : 0) * ph.share)) };
    }
    const res = await phase(ph);
    // workers report cumulative CPU: keep the phase's own (warm-up included)
    const total = res.loadgen_cpu_us_total;
    res.loadgen_cpu_pct = r2(((total - prevCpu) / 1e6 / Math.max(1e-6, res.seconds + (ph.warmup_s || 0))) * 100);
    prevCpu = total;
    delete res.loadgen_cpu_us_total;
    out.phases.push(res);
    process.stderr.write(`[http] ${ph.name}: ${res.requests_per_s} req/s p99 ${res.latency_ms.p99_ms} ms errors ${JSON.stringify(res.errors)} loadgen cpu ${res.loadgen_cpu_pct}%\n`);
    await sleep(200);
  }
  await Promise.race([callAll('exit', {}), sleep(1000)]);
  for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
  clearTimeout(hard);
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(0);
}

main();
