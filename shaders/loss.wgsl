//! requires: common
// The residual of the model Y = f(Z) + e, e ~ N(0, sigma^2), and its per-example squared error:
//   r = mask * (y - f) / sigma^2           (d log p(Y | Z) / d f, back-propagated later)
//   sse[b] = sum over observed pixels of (y - f)^2
// y, f, mask, r: [rows, per_example]. A pixel is observed where mask != 0 (MASKED) or always;
// an unobserved one gives r = +0 and adds +0, whatever y holds there (even NaN).
//
// A unit is a vec4 when V4 (per_example % 4 == 0), else one f32 read by component.
// Work layout: a row is taken by a group of tpr threads (a power of two, 16..256); a
// workgroup holds rpw = 256 / tpr rows, so short rows do not leave threads idle. Long rows are
// split into `chunks` of `per_chunk` units (then tpr = 256, rpw = 1), one workgroup each.
// `residual` writes r and each (row, chunk)'s sum in a fixed order (threads in order, then a
// fixed two-level sum in workgroup memory); `finish` adds a row's chunk sums in order. With one
// chunk per row, `residual` writes sse directly. No atomics: same input, same bits.

override V4: bool = false;
override MASKED: bool = false;

struct Params {
    rows: u32,
    ru: u32,         // units per row
    chunks: u32,     // chunks per row (>= 1)
    per_chunk: u32,  // units per chunk (the last may be short)
    tpr: u32,        // threads per row (16, 32, ..., 256)
    rpw: u32,        // rows per workgroup: 256 / tpr
    inv_s2: f32,     // 1 / sigma^2
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> y: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> f: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> mask: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> r: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> part: array<f32>;
@group(0) @binding(6) var<storage, read_write> sse: array<f32>;

var<workgroup> scratch: array<f32, 256>;

@compute @workgroup_size(256)
fn residual(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) li: u32) {
    let g = flat_group(wg, nwg);
    let chunk = g % p.chunks;
    let t = li % p.tpr;
    let row = (g / p.chunks) * p.rpw + li / p.tpr;
    let valid = row < p.rows;
    let start = chunk * p.per_chunk;
    let end = min(start + p.per_chunk, p.ru);
    var acc = 0.0;
    if valid {
        let base = row * p.ru;
        if V4 {
            var a = vec4<f32>(0.0);
            for (var k = start + t; k < end; k = k + p.tpr) {
                let j = base + k;
                var d = y[j] - f[j];
                if MASKED {
                    d = select(vec4<f32>(0.0), d, mask[j] != vec4<f32>(0.0));
                }
                r[j] = d * p.inv_s2;
                a = a + d * d;
            }
            acc = (a.x + a.y) + (a.z + a.w);
        } else {
            for (var k = start + t; k < end; k = k + p.tpr) {
                let j = base + k;
                let q = j >> 2u;
                let c = j & 3u;
                var d = y[q][c] - f[q][c];
                if MASKED {
                    d = select(0.0, d, mask[q][c] != 0.0);
                }
                r[q][c] = d * p.inv_s2;
                acc = acc + d * d;
            }
        }
    }
    // The row's tpr sums, in order: runs of 16 first, then the runs' sums.
    scratch[li] = acc;
    workgroupBarrier();
    if li % 16u == 0u {
        var s = 0.0;
        for (var k = li; k < li + 16u; k = k + 1u) {
            s = s + scratch[k];
        }
        scratch[li] = s;
    }
    workgroupBarrier();
    if valid && t == 0u {
        var s = 0.0;
        for (var k = li; k < li + p.tpr; k = k + 16u) {
            s = s + scratch[k];
        }
        part[row * p.chunks + chunk] = s;
    }
}

// One thread per row: sse[row] = the sum of its chunks, in order.
@compute @workgroup_size(256)
fn finish(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    let row = flat_group(wg, nwg) * 256u + li;
    if row >= p.rows {
        return;
    }
    var acc = 0.0;
    for (var k = 0u; k < p.chunks; k = k + 1u) {
        acc = acc + part[row * p.chunks + k];
    }
    sse[row] = acc;
}
