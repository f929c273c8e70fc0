'use strict';
// Log-bucketed latency histogram (about 2.5 % resolution), mergeable across worker processes.
// Values are recorded in microseconds and reported in milliseconds.

const K = 40; // buckets per e-fold
const N = 800; // exp(800/40) us = 485 s: anything slower lands in the last bucket

class Hist {
  constructor() {
    this.c = new Float64Array(N);
    this.n = 0;
    this.sum = 0;
    this.max = 0;
    this.min = Infinity;
  }

  add(us) {
    if (!(us >= 1)) us = 1;
    let i = Math.floor(Math.log(us) * K);
    if (i >= N) i = N - 1;
    this.c[i] += 1;
    this.n += 1;
    this.sum += us;
    if (us > this.max) this.max = us;
    if (us < this.min) this.min = us;
  }

  merge(o) {
    if (!o) return this;
    if (!(o instanceof Hist)) o = Hist.fromJSON(o);
    for (let i = 0; i < N; i++) this.c[i] += o.c[i];
    this.n += o.n;
    this.sum += o.sum;
    if (o.max > this.max) this.max = o.max;
    if (o.min < this.min) this.min = o.min;
    return this;
  }

  // p in [0, 100]; returns milliseconds (bucket midpoint, clamped to the observed max)
  pct(p) {
    if (this.n === 0) return null;
    const want = Math.max(1, Math.ceil((p / 100) * this.n));
    let acc = 0;
    for (let i = 0; i < N; i++) {
      acc += this.c[i];
      if (acc >= want) {
        const us = Math.min(Math.exp((i + 0.5) / K), this.max);
        return us / 1000;
      }
    }
    return this.max / 1000;
  }

  summary() {
    const r = (x) => (x === null ? null : Math.round(x * 100) / 100);
    return {
      count: this.n,
      mean_ms: this.n ? r(this.sum / this.n / 1000) : null,
      p50_ms: r(this.pct(50)),
      p90_ms: r(this.pct(90)),
      p99_ms: r(this.pct(99)),
      p999_ms: r(this.pct(99.9)),
      max_ms: this.n ? r(this.max / 1000) : null,
    };
  }

  toJSON() {
    const sparse = {};
    for (let i = 0; i < N; i++) if (this.c[i]) sparse[i] = this.c[i];
    return { s: sparse, n: this.n, sum: this.sum, max: this.max, min: this.min };
  }

  static fromJSON(j) {
    const h = new Hist();
    if (!j) return h;
    for (const k of Object.keys(j.s)) h.c[Number(k)] = j.s[k];
    h.n = j.n;
    h.sum = j.sum;
    h.max = j.max;
    h.min = j.min === null ? Infinity : j.min;
    return h;
  }
}

module.exports = { Hist };
