//! requires: common
// Batch normalization on the current batch's statistics (no running averages), per channel,
// for x viewed as [batch, channels, spatial]:
//   y = gamma * (x - mean) / sqrt(var + eps) + beta,  var biased, over (batch, spatial),
// and its full backward pass (through the batch mean and variance).
//
// A "unit" is a vec4 when V4 (spatial % 4 == 0, so no vec4 straddles two channels), else one
// f32 read through the vec4 arrays by component (the other lanes then hold zeros and are
// ignored). Unit k = o * su + i of channel c (example o, unit i of the row) lies at
// (o * channels + c) * su + i.
//
// Two work layouts, chosen by the host from the row length su:
// - rows (su > 64): one workgroup per (channel, chunk of `per_chunk` consecutive units of the
//   channel); WG threads stride the chunk, tracking (example, unit) without divisions.
// - columns (`col_*`, su <= 64: many channels with small spatial, or spatial 1 after a dense
//   layer): one workgroup per (block of cpw = WG / su channels, chunk of `bper` examples);
//   thread li takes channel block * cpw + li / su, unit li % su, of every example of the
//   chunk, so adjacent threads read adjacent units.
// Each pass over x is split the same way: `*_partial` writes a per-(channel, chunk) partial,
// `*_finish` merges a channel's chunks in order (one thread per channel), then `normalize` /
// `grad_input` write y / dx. With a single chunk per channel the `*_fused` entry points do all
// three in one dispatch (the output is written from a second, cache-warm read).
//
// Determinism: every sum is taken in a fixed order (threads in order, then a fixed two-level
// merge in workgroup memory, then chunks in order); no atomics.
// Mean and variance: each thread accumulates s1 = sum (x - K) and s2 = sum (x - K)^2 over its
// n values, K being the first of them; since K is a member of the set, s2 = M2 + n (mean - K)^2
// <= (n + 1) M2, so M2 = s2 - s1^2 / n loses at most log2(n + 1) bits (n <= ~85 with the
// host's chunk sizes) whatever the mean. The threads' (count, mean, M2) are then merged with
// Chan et al.'s pairwise formula. No E[x^2] - E[x]^2 cancellation.
// Barriers are few (two per merge): cheap on GPUs, costly on CPU drivers such as lavapipe.

override V4: bool = false;

struct Params {
    channels: u32,
    su: u32,         // units per (example, channel) row: spatial / 4 with V4, else spatial
    mu: u32,         // units per channel: batch * su
    chunks: u32,     // chunks per channel (>= 1)
    per_chunk: u32,  // rows layout: units per chunk (the last may be short)
    jump: u32,       // rows layout: a stride of WG units of a channel moves the address by
    step_i: u32,     // jump and the unit in the row by step_i (WG % su); when that unit
    wrap: u32,       // passes the row's end, the address moves wrap = (channels - 1) * su more
    m: f32,          // elements per channel: batch * spatial
    eps: f32,
    batch: u32,
    cpw: u32,        // columns layout: channels per workgroup (WG / su)
    bper: u32,       // columns layout: examples per chunk (the last may be short)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;   // [2, channels]: mean, 1/sqrt(var+eps)
@group(0) @binding(5) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> part: array<f32>;    // chunk partials
@group(0) @binding(7) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> dx: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(10) var<storage, read_write> dbeta: array<f32>;

// Threads per workgroup (src/ops/batch_norm.rs WG): 64, not 256, because the barriers of the
// merges cost in proportion on CPU drivers (lavapipe runs a workgroup as SIMD-8 slices).
const WG: u32 = 64u;
// The merge tree: TREE threads merge TREE entries each, then thread 0 merges their results.
const TREE: u32 = 8u;

var<workgroup> s_n: array<f32, WG>;
var<workgroup> s_a: array<f32, WG>;
var<workgroup> s_b: array<f32, WG>;

// ---- loads and stores of one unit ----

fn ldx(j: u32) -> vec4<f32> {
    if V4 {
        return x[j];
    }
    return vec4<f32>(x[j >> 2u][j & 3u], 0.0, 0.0, 0.0);
}

fn lddy(j: u32) -> vec4<f32> {
    if V4 {
        return dy[j];
    }
    return vec4<f32>(dy[j >> 2u][j & 3u], 0.0, 0.0, 0.0);
}

fn sty(j: u32, v: vec4<f32>) {
    if V4 {
        y[j] = v;
    } else {
        y[j >> 2u][j & 3u] = v.x;
    }
}

fn stdx(j: u32, v: vec4<f32>) {
    if V4 {
        dx[j] = v;
    } else {
        dx[j >> 2u][j & 3u] = v.x;
    }
}

fn hsum(v: vec4<f32>) -> f32 {
    if V4 {
        return (v.x + v.y) + (v.z + v.w);
    }
    return v.x;
}

// ---- rows layout: unit k of channel ch, stepped by WG units without divisions ----

struct Cur {
    i: u32,  // the unit in its row
    j: u32,  // its address
}

fn cur_at(k: u32, ch: u32) -> Cur {
    let o = k / p.su;
    let i = k - o * p.su;
    return Cur(i, (o * p.channels + ch) * p.su + i);
}

fn cur_next(c: Cur) -> Cur {
    var n = Cur(c.i + p.step_i, c.j + p.jump);
    if n.i >= p.su {
        n.i = n.i - p.su;
        n.j = n.j + p.wrap;
    }
    return n;
}

// ---- statistics: (count, mean, M2) ----

struct W {
    n: f32,
    mean: f32,
    m2: f32,
}

// Chan et al.: the statistics of the union of two disjoint sets.
fn merge(a: W, b: W) -> W {
    let n = a.n + b.n;
    if n == 0.0 {
        return W(0.0, 0.0, 0.0);
    }
    let d = b.mean - a.mean;
    let f = b.n / n;
    return W(n, a.mean + d * f, a.m2 + b.m2 + d * d * a.n * f);
}

// A thread's n values per lane (the same n in every lane), summed as s1 = sum (v - k) and
// s2 = sum (v - k)^2: the lanes' (count, mean, M2), merged.
fn lanes(n: f32, k: vec4<f32>, s1: vec4<f32>, s2: vec4<f32>) -> W {
    if n == 0.0 {
        return W(0.0, 0.0, 0.0);
    }
    let r = 1.0 / n;
    let mean = k + s1 * r;
    let m2 = max(s2 - s1 * (s1 * r), vec4<f32>(0.0));
    if V4 {
        let mu = ((mean.x + mean.y) + (mean.z + mean.w)) * 0.25;
        let d = mean - mu;
        return W(4.0 * n, mu, ((m2.x + m2.y) + (m2.z + m2.w)) + n * dot(d, d));
    }
    return W(n, mean.x, m2.x);
}

// A thread's running statistics: blocks of up to BLOCK values per lane are summed about
// their first value (s1, s2 as in `lanes`), then merged into the thread's total; short blocks
// keep the rounding of s2 - s1^2 / n small whatever the thread's share of the channel. The
// callers loop over blocks, and within a block over its values, so that the merge runs once
// per block: CPU drivers run an `if` body for every value, masked, whether taken or not.
const BLOCK: u32 = 16u;

struct Block {
    n: f32,
    shift: vec4<f32>,
    s1: vec4<f32>,
    s2: vec4<f32>,
}

// A block whose first value (its shift) is v.
fn block_start(v: vec4<f32>) -> Block {
    return Block(1.0, v, vec4<f32>(0.0), vec4<f32>(0.0));
}

fn block_add(b: Block, v: vec4<f32>) -> Block {
    let d = v - b.shift;
    return Block(b.n + 1.0, b.shift, b.s1 + d, b.s2 + d * d);
}

fn block_w(b: Block) -> W {
    return lanes(b.n, b.shift, b.s1, b.s2);
}

// Merges the WG threads' states in a fixed order; every thread gets the result: TREE threads
// merge TREE entries each (into the first of them), then thread 0 merges those 16.
// Uniform control flow.
fn tree_w(li: u32, w: W) -> W {
    s_n[li] = w.n;
    s_a[li] = w.mean;
    s_b[li] = w.m2;
    workgroupBarrier();
    if li < TREE {
        var r = W(0.0, 0.0, 0.0);
        for (var k = TREE * li; k < TREE * li + TREE; k = k + 1u) {
            r = merge(r, W(s_n[k], s_a[k], s_b[k]));
        }
        s_n[TREE * li] = r.n;
        s_a[TREE * li] = r.mean;
        s_b[TREE * li] = r.m2;
    }
    workgroupBarrier();
    if li == 0u {
        var r = W(0.0, 0.0, 0.0);
        for (var k = 0u; k < WG; k = k + TREE) {
            r = merge(r, W(s_n[k], s_a[k], s_b[k]));
        }
        s_n[0] = r.n;
        s_a[0] = r.mean;
        s_b[0] = r.m2;
    }
    workgroupBarrier();
    return W(s_n[0], s_a[0], s_b[0]);
}

// The same for two plain sums.
fn tree2(li: u32, v: vec2<f32>) -> vec2<f32> {
    s_a[li] = v.x;
    s_b[li] = v.y;
    workgroupBarrier();
    if li < TREE {
        var r = vec2<f32>(0.0);
        for (var k = TREE * li; k < TREE * li + TREE; k = k + 1u) {
            r = r + vec2<f32>(s_a[k], s_b[k]);
        }
        s_a[TREE * li] = r.x;
        s_b[TREE * li] = r.y;
    }
    workgroupBarrier();
    var r = vec2<f32>(0.0);
    for (var k = 0u; k < WG; k = k + TREE) {
        r = r + vec2<f32>(s_a[k], s_b[k]);
    }
    return r;
}

// Columns layout: merges the su threads of each channel in order (thread lc * su merges them
// into its own slot); every thread of the channel gets the result. Uniform control flow.
fn col_tree_w(li: u32, lc: u32, i: u32, w: W) -> W {
    s_n[li] = w.n;
    s_a[li] = w.mean;
    s_b[li] = w.m2;
    workgroupBarrier();
    if i == 0u && lc < p.cpw && p.su > 1u {
        var r = W(0.0, 0.0, 0.0);
        for (var k = 0u; k < p.su; k = k + 1u) {
            r = merge(r, W(s_n[li + k], s_a[li + k], s_b[li + k]));
        }
        s_n[li] = r.n;
        s_a[li] = r.mean;
        s_b[li] = r.m2;
    }
    workgroupBarrier();
    let b = min(lc * p.su, 255u);
    return W(s_n[b], s_a[b], s_b[b]);
}

fn col_tree2(li: u32, lc: u32, i: u32, v: vec2<f32>) -> vec2<f32> {
    s_a[li] = v.x;
    s_b[li] = v.y;
    workgroupBarrier();
    if i == 0u && lc < p.cpw && p.su > 1u {
        var r = vec2<f32>(0.0);
        for (var k = 0u; k < p.su; k = k + 1u) {
            r = r + vec2<f32>(s_a[li + k], s_b[li + k]);
        }
        s_a[li] = r.x;
        s_b[li] = r.y;
    }
    workgroupBarrier();
    let b = min(lc * p.su, 255u);
    return vec2<f32>(s_a[b], s_b[b]);
}

fn inv_std(w: W) -> f32 {
    return 1.0 / sqrt(w.m2 / p.m + p.eps);
}

// ---- per-thread work, rows layout: units [start, end) of channel ch seen by thread li ----

fn row_stats(ch: u32, start: u32, end: u32, li: u32) -> W {
    var k = start + li;
    var cur = cur_at(k, ch);
    var acc = W(0.0, 0.0, 0.0);
    while k < end {
        var b = block_start(ldx(cur.j));
        cur = cur_next(cur);
        k = k + WG;
        for (var i = 1u; i < BLOCK && k < end; i = i + 1u) {
            b = block_add(b, ldx(cur.j));
            cur = cur_next(cur);
            k = k + WG;
        }
        acc = merge(acc, block_w(b));
    }
    return acc;
}

// (sum dy, sum dy * (x - mean))
fn row_grad(ch: u32, start: u32, end: u32, li: u32, mean: f32) -> vec2<f32> {
    var k = start + li;
    var cur = cur_at(k, ch);
    var s = vec4<f32>(0.0);
    var t = vec4<f32>(0.0);
    for (; k < end; k = k + WG) {
        let j = cur.j;
        let g = lddy(j);
        s = s + g;
        t = t + g * (ldx(j) - mean);
        cur = cur_next(cur);
    }
    return vec2<f32>(hsum(s), hsum(t));
}

// y = (x - mean) * a + b
fn row_normalize(ch: u32, start: u32, end: u32, li: u32, mean: f32, a: f32, b: f32) {
    var k = start + li;
    var cur = cur_at(k, ch);
    for (; k < end; k = k + WG) {
        let j = cur.j;
        sty(j, (ldx(j) - mean) * a + b);
        cur = cur_next(cur);
    }
}

// dx = gamma * inv / m * (m * dy - dbeta - xhat * dgamma), written as
// k1 * (dy - cb - (x - mean) * cg) with k1 = gamma * inv, cb = dbeta / m, cg = dgamma * inv / m.
fn row_dx(ch: u32, start: u32, end: u32, li: u32, mean: f32, k1: f32, cb: f32, cg: f32) {
    var k = start + li;
    var cur = cur_at(k, ch);
    for (; k < end; k = k + WG) {
        let j = cur.j;
        stdx(j, k1 * (lddy(j) - cb - (ldx(j) - mean) * cg));
        cur = cur_next(cur);
    }
}

// ---- per-thread work, columns layout: unit i of channel c in examples [o0, o1) ----

fn col_stats(c: u32, i: u32, o0: u32, o1: u32) -> W {
    let stride = p.channels * p.su;
    var j = (o0 * p.channels + c) * p.su + i;
    var acc = W(0.0, 0.0, 0.0);
    var o = o0;
    while o < o1 {
        var b = block_start(ldx(j));
        j = j + stride;
        o = o + 1u;
        for (var q = 1u; q < BLOCK && o < o1; q = q + 1u) {
            b = block_add(b, ldx(j));
            j = j + stride;
            o = o + 1u;
        }
        acc = merge(acc, block_w(b));
    }
    return acc;
}

fn col_grad(c: u32, i: u32, o0: u32, o1: u32, mean: f32) -> vec2<f32> {
    let stride = p.channels * p.su;
    var j = (o0 * p.channels + c) * p.su + i;
    var s = vec4<f32>(0.0);
    var t = vec4<f32>(0.0);
    for (var o = o0; o < o1; o = o + 1u) {
        let g = lddy(j);
        s = s + g;
        t = t + g * (ldx(j) - mean);
        j = j + stride;
    }
    return vec2<f32>(hsum(s), hsum(t));
}

fn col_normalize_rows(c: u32, i: u32, o0: u32, o1: u32, mean: f32, a: f32, b: f32) {
    let stride = p.channels * p.su;
    var j = (o0 * p.channels + c) * p.su + i;
    for (var o = o0; o < o1; o = o + 1u) {
        sty(j, (ldx(j) - mean) * a + b);
        j = j + stride;
    }
}

fn col_dx(c: u32, i: u32, o0: u32, o1: u32, mean: f32, k1: f32, cb: f32, cg: f32) {
    let stride = p.channels * p.su;
    var j = (o0 * p.channels + c) * p.su + i;
    for (var o = o0; o < o1; o = o + 1u) {
        stdx(j, k1 * (lddy(j) - cb - (ldx(j) - mean) * cg));
        j = j + stride;
    }
}

// ---- workgroup coordinates ----

// Rows layout: workgroup g = c * chunks + chunk covers units [start, end) of channel c.
struct RowWg {
    c: u32,
    chunk: u32,
    start: u32,
    end: u32,
    valid: bool,
}

fn row_wg(g: u32) -> RowWg {
    let start = (g % p.chunks) * p.per_chunk;
    return RowWg(g / p.chunks, g % p.chunks, start, min(start + p.per_chunk, p.mu),
                 g < p.channels * p.chunks);
}

// Columns layout: workgroup g = block * chunks + chunk; thread li takes channel c, unit i of
// examples [o0, o1); lc = li / su is its channel within the block.
struct ColWg {
    c: u32,
    chunk: u32,
    lc: u32,
    i: u32,
    o0: u32,
    o1: u32,
    live: bool,
}

fn col_wg(g: u32, li: u32) -> ColWg {
    let chunk = g % p.chunks;
    let lc = li / p.su;
    let c = (g / p.chunks) * p.cpw + lc;
    let o0 = chunk * p.bper;
    return ColWg(c, chunk, lc, li % p.su, o0, min(o0 + p.bper, p.batch),
                 lc < p.cpw && c < p.channels);
}

// ---- forward, rows layout ----

// One workgroup per channel (a single chunk): statistics, stats and y.
@compute @workgroup_size(WG)
fn forward_fused(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) li: u32) {
    let q = row_wg(flat_group(wg, nwg));
    var w = W(0.0, 0.0, 0.0);
    if q.valid {
        w = row_stats(q.c, 0u, p.mu, li);
    }
    let t = tree_w(li, w);
    if !q.valid {
        return;
    }
    let inv = inv_std(t);
    if li == 0u {
        stats[q.c] = t.mean;
        stats[p.channels + q.c] = inv;
    }
    row_normalize(q.c, 0u, p.mu, li, t.mean, gamma[q.c] * inv, beta[q.c]);
}

// part[(c * chunks + chunk) * 3 ..] = the chunk's (count, mean, M2).
@compute @workgroup_size(WG)
fn stats_partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) li: u32) {
    let g = flat_group(wg, nwg);
    let q = row_wg(g);
    var w = W(0.0, 0.0, 0.0);
    if q.valid {
        w = row_stats(q.c, q.start, q.end, li);
    }
    let t = tree_w(li, w);
    if q.valid && li == 0u {
        part[3u * g] = t.n;
        part[3u * g + 1u] = t.mean;
        part[3u * g + 2u] = t.m2;
    }
}

@compute @workgroup_size(WG)
fn normalize(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
    let q = row_wg(flat_group(wg, nwg));
    if !q.valid {
        return;
    }
    let inv = stats[p.channels + q.c];
    row_normalize(q.c, q.start, q.end, li, stats[q.c], gamma[q.c] * inv, beta[q.c]);
}

// ---- forward, columns layout ----

@compute @workgroup_size(WG)
fn col_forward_fused(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) li: u32) {
    let q = col_wg(flat_group(wg, nwg), li);
    var w = W(0.0, 0.0, 0.0);
    if q.live {
        w = col_stats(q.c, q.i, q.o0, q.o1);
    }
    let t = col_tree_w(li, q.lc, q.i, w);
    if !q.live {
        return;
    }
    let inv = inv_std(t);
    if q.i == 0u {
        stats[q.c] = t.mean;
        stats[p.channels + q.c] = inv;
    }
    col_normalize_rows(q.c, q.i, q.o0, q.o1, t.mean, gamma[q.c] * inv, beta[q.c]);
}

@compute @workgroup_size(WG)
fn col_stats_partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) li: u32) {
    let q = col_wg(flat_group(wg, nwg), li);
    var w = W(0.0, 0.0, 0.0);
    if q.live {
        w = col_stats(q.c, q.i, q.o0, q.o1);
    }
    let t = col_tree_w(li, q.lc, q.i, w);
    if q.live && q.i == 0u {
        let b = 3u * (q.c * p.chunks + q.chunk);
        part[b] = t.n;
        part[b + 1u] = t.mean;
        part[b + 2u] = t.m2;
    }
}

@compute @workgroup_size(WG)
fn col_normalize(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) li: u32) {
    let q = col_wg(flat_group(wg, nwg), li);
    if !q.live {
        return;
    }
    let inv = stats[p.channels + q.c];
    col_normalize_rows(q.c, q.i, q.o0, q.o1, stats[q.c], gamma[q.c] * inv, beta[q.c]);
}

// ---- forward, both layouts: one thread per channel merges its chunks in order ----

@compute @workgroup_size(WG)
fn stats_finish(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) li: u32) {
    let c = flat_group(wg, nwg) * WG + li;
    if c >= p.channels {
        return;
    }
    var w = W(0.0, 0.0, 0.0);
    for (var k = 0u; k < p.chunks; k = k + 1u) {
        let b = 3u * (c * p.chunks + k);
        w = merge(w, W(part[b], part[b + 1u], part[b + 2u]));
    }
    stats[c] = w.mean;
    stats[p.channels + c] = inv_std(w);
}

// ---- backward, rows layout ----

@compute @workgroup_size(WG)
fn backward_fused(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) li: u32) {
    let q = row_wg(flat_group(wg, nwg));
    var mean = 0.0;
    var s = vec2<f32>(0.0);
    if q.valid {
        mean = stats[q.c];
        s = row_grad(q.c, 0u, p.mu, li, mean);
    }
    let t = tree2(li, s);
    if !q.valid {
        return;
    }
    let inv = stats[p.channels + q.c];
    let dg = t.y * inv;
    if li == 0u {
        dbeta[q.c] = t.x;
        dgamma[q.c] = dg;
    }
    row_dx(q.c, 0u, p.mu, li, mean, gamma[q.c] * inv, t.x / p.m, dg * inv / p.m);
}

// part[(c * chunks + chunk) * 2 ..] = the chunk's (sum dy, sum dy * (x - mean)).
@compute @workgroup_size(WG)
fn grad_partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) li: u32) {
    let g = flat_group(wg, nwg);
    let q = row_wg(g);
    var s = vec2<f32>(0.0);
    if q.valid {
        s = row_grad(q.c, q.start, q.end, li, stats[q.c]);
    }
    let t = tree2(li, s);
    if q.valid && li == 0u {
        part[2u * g] = t.x;
        part[2u * g + 1u] = t.y;
    }
}

@compute @workgroup_size(WG)
fn grad_input(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
    let q = row_wg(flat_group(wg, nwg));
    if !q.valid {
        return;
    }
    let inv = stats[p.channels + q.c];
    row_dx(q.c, q.start, q.end, li, stats[q.c], gamma[q.c] * inv, dbeta[q.c] / p.m,
           dgamma[q.c] * inv / p.m);
}

// ---- backward, columns layout ----

@compute @workgroup_size(WG)
fn col_backward_fused(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) li: u32) {
    let q = col_wg(flat_group(wg, nwg), li);
    var mean = 0.0;
    var s = vec2<f32>(0.0);
    if q.live {
        mean = stats[q.c];
        s = col_grad(q.c, q.i, q.o0, q.o1, mean);
    }
    let t = col_tree2(li, q.lc, q.i, s);
    if !q.live {
        return;
    }
    let inv = stats[p.channels + q.c];
    let dg = t.y * inv;
    if q.i == 0u {
        dbeta[q.c] = t.x;
        dgamma[q.c] = dg;
    }
    col_dx(q.c, q.i, q.o0, q.o1, mean, gamma[q.c] * inv, t.x / p.m, dg * inv / p.m);
}

@compute @workgroup_size(WG)
fn col_grad_partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) li: u32) {
    let q = col_wg(flat_group(wg, nwg), li);
    var s = vec2<f32>(0.0);
    if q.live {
        s = col_grad(q.c, q.i, q.o0, q.o1, stats[q.c]);
    }
    let t = col_tree2(li, q.lc, q.i, s);
    if q.live && q.i == 0u {
        let b = 2u * (q.c * p.chunks + q.chunk);
        part[b] = t.x;
        part[b + 1u] = t.y;
    }
}

@compute @workgroup_size(WG)
fn col_grad_input(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) li: u32) {
    let q = col_wg(flat_group(wg, nwg), li);
    if !q.live {
        return;
    }
    let inv = stats[p.channels + q.c];
    col_dx(q.c, q.i, q.o0, q.o1, stats[q.c], gamma[q.c] * inv, dbeta[q.c] / p.m,
           dgamma[q.c] * inv / p.m);
}

// ---- backward, both layouts: one thread per channel adds its chunks in order ----

@compute @workgroup_size(WG)
fn grad_finish(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    let c = flat_group(wg, nwg) * WG + li;
    if c >= p.channels {
        return;
    }
    var s = 0.0;
    var t = 0.0;
    for (var k = 0u; k < p.chunks; k = k + 1u) {
        let b = 2u * (c * p.chunks + k);
        s = s + part[b];
        t = t + part[b + 1u];
    }
    dbeta[c] = s;
    dgamma[c] = t * stats[p.channels + c];
}
