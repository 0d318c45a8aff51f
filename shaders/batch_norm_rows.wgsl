//! requires: common, batch_norm_common
// Batch normalization, rows layout (src/ops/batch_norm/rows.rs): rows of more than 64 units,
// one workgroup per (channel, chunk of `per_chunk` consecutive units of the channel); WG
// threads stride the chunk, tracking (example, unit) without divisions. See
// batch_norm_common.wgsl for the statistics and batch_norm.wgsl for the merge of the chunks.

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

