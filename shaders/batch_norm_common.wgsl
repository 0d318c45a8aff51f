//! requires: common
// The pieces shared by the batch-normalization kernels (src/ops/batch_norm): parameters,
// bindings, loads and stores, and the statistics.
//
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
// Two work layouts, chosen by the host from the row length su, each in its own file:
// - rows (batch_norm_rows.wgsl, su > 64): one workgroup per (channel, chunk of `per_chunk` consecutive units of the
//   channel); WG threads stride the chunk, tracking (example, unit) without divisions.
// - columns (batch_norm_columns.wgsl, su <= 64: many channels with small spatial, or spatial 1 after a dense
//   layer): one workgroup per (block of cpw = WG / su channels, chunk of `bper` examples);
//   thread li takes channel block * cpw + li / su, unit li % su, of every example of the
//   chunk, so adjacent threads read adjacent units.
// Each pass over x is split the same way: `*_partial` writes a per-(channel, chunk) partial,
// `*_finish` (batch_norm.wgsl) merges a channel's chunks in order (one thread per channel),
// then `normalize` /
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

// Threads per workgroup (src/ops/batch_norm/mod.rs WORKGROUP): 64, not 256, because the barriers of the
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

fn inv_std(w: W) -> f32 {
    return 1.0 / sqrt(w.m2 / p.m + p.eps);
}

