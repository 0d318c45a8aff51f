//! requires: common, batch_norm_common
// Batch normalization, columns layout (src/ops/batch_norm/columns.rs): rows of at most 64
// units (many channels with small spatial, or spatial 1 after a dense layer), one workgroup
// per (block of cpw = WG / su channels, chunk of `bper` examples); thread li takes channel
// block * cpw + li / su, unit li % su, of every example of the chunk, so adjacent threads
// read adjacent units. See batch_norm_common.wgsl for the statistics and batch_norm.wgsl for
// the merge of the chunks.

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


// ---- forward, columns layout ----

@compute @workgroup_size(WG)
fn forward_fused(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
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
fn stats_partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
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
fn normalize(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) li: u32) {
    let q = col_wg(flat_group(wg, nwg), li);
    if !q.live {
        return;
    }
    let inv = stats[p.channels + q.c];
    col_normalize_rows(q.c, q.i, q.o0, q.o1, stats[q.c], gamma[q.c] * inv, beta[q.c]);
}

// ---- backward, columns layout ----

@compute @workgroup_size(WG)
fn backward_fused(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
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
fn grad_partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
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
fn grad_input(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) li: u32) {
    let q = col_wg(flat_group(wg, nwg), li);
    if !q.live {
        return;
    }
    let inv = stats[p.channels + q.c];
    col_dx(q.c, q.i, q.o0, q.o1, stats[q.c], gamma[q.c] * inv, dbeta[q.c] / p.m,
           dgamma[q.c] * inv / p.m);
}

