//! requires: common
// Deterministic reductions without float atomics: every sum is taken in a fixed order, so the
// same input gives the same bits on the same adapter.
//
// channel_sum: x viewed as [outer, channels, inner]; the sums over (outer, inner) of each
// channel are split into `chunks` partial sums of `per_chunk` elements (stage 1, one workgroup
// per (channel, chunk)), then the partials of each channel are added in order (stage 2).
// MODE: 0 sum, 1 max of |x|.

override MODE: u32 = 0u;
// V4: inner % 4 == 0 and the host counts inner, per_chunk in vec4 units (x read as vec4).
override V4: bool = false;

struct Params {
    outer: u32,
    channels: u32,
    inner: u32,
    chunks: u32,     // partial sums per channel
    per_chunk: u32,  // elements per partial sum (the last chunk may be short)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read> x4: array<vec4<f32>>;

const WG: u32 = 64u;
var<workgroup> scratch: array<f32, 64>;

fn combine(a: f32, b: f32) -> f32 {
    if MODE == 1u { return max(a, b); }
    return a + b;
}

fn combine4(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
    if MODE == 1u { return max(a, b); }
    return a + b;
}

fn load(v: f32) -> f32 {
    if MODE == 1u { return abs(v); }
    return v;
}

fn load4(j: u32) -> vec4<f32> {
    var v: vec4<f32>;
    if V4 {
        v = x4[j];
    } else {
        v = vec4<f32>(x[j], 0.0, 0.0, 0.0);
    }
    if MODE == 1u { return abs(v); }
    return v;
}

fn tree(li: u32) -> f32 {
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if li < s { scratch[li] = combine(scratch[li], scratch[li + s]); }
        workgroupBarrier();
    }
    return scratch[0];
}

// One workgroup per (channel, chunk): out[channel * chunks + chunk]. Thread li takes units
// start + li, start + li + WG, ... of the channel's (outer, inner) sequence, stepping the
// (row, address) pair without divisions (integer division is slow on CPU drivers).
@compute @workgroup_size(64)
fn partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
    let g = flat_group(wg, nwg);
    let total = p.outer * p.inner;
    // Uniform control flow: no early return before the barriers.
    let valid = g < p.channels * p.chunks;
    let c = g / max(p.chunks, 1u);
    let chunk = g % max(p.chunks, 1u);
    let start = chunk * p.per_chunk;
    let end = min(start + p.per_chunk, total);
    var acc = vec4<f32>(0.0);
    if valid && start + li < end {
        let k0 = start + li;
        let o = k0 / p.inner;
        var i = k0 - o * p.inner;
        var j = (o * p.channels + c) * p.inner + i;
        let wrap = (p.channels - 1u) * p.inner;
        for (var k = k0; k < end; k = k + WG) {
            acc = combine4(acc, load4(j));
            i = i + WG;
            j = j + WG;
            while i >= p.inner {
                i = i - p.inner;
                j = j + wrap;
            }
        }
    }
    if MODE == 1u {
        scratch[li] = max(max(acc.x, acc.y), max(acc.z, acc.w));
    } else {
        scratch[li] = (acc.x + acc.y) + (acc.z + acc.w);
    }
    let r = tree(li);
    if valid && li == 0u { out[g] = r; }
}

// Small reductions (few elements per channel): one invocation per channel adds its values in
// order, (outer, inner unit) by (outer, inner unit); no workgroup memory, no barriers.
@compute @workgroup_size(64)
fn serial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    let c = flat_group(wg, nwg) * 64u + li;
    if c >= p.channels { return; }
    var acc = vec4<f32>(0.0);
    for (var o = 0u; o < p.outer; o = o + 1u) {
        let row = (o * p.channels + c) * p.inner;
        for (var i = 0u; i < p.inner; i = i + 1u) {
            acc = combine4(acc, load4(row + i));
        }
    }
    if MODE == 1u {
        out[c] = max(max(acc.x, acc.y), max(acc.z, acc.w));
    } else {
        out[c] = (acc.x + acc.y) + (acc.z + acc.w);
    }
}

// x holds [channels, chunks] partials; out[c] = their sum (or max), in order.
@compute @workgroup_size(256)
fn finish(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= p.channels { return; }
    var acc = 0.0;
    for (var k = 0u; k < p.chunks; k = k + 1u) {
        acc = combine(acc, x[c * p.chunks + k]);
    }
    out[c] = acc;
}

// For inner == 1 (a sum over the batch of [outer, channels], e.g. a dense layer's bias
// gradient): one invocation per channel adds its column in order; neighbouring invocations
// read neighbouring addresses.
@compute @workgroup_size(256)
fn columns(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
    let c = flat_group(wg, nwg) * 256u + li;
    if c >= p.channels { return; }
    var acc = 0.0;
    for (var o = 0u; o < p.outer; o = o + 1u) {
        acc = combine(acc, load(x[o * p.channels + c]));
    }
    out[c] = acc;
}
