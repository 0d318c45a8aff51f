//! requires: common, batch_norm_common
// Batch normalization (src/ops/batch_norm/mod.rs): the merges of the per-chunk partials that
// both layouts (batch_norm_rows.wgsl, batch_norm_columns.wgsl) write when a channel spans
// several chunks, one thread per channel, chunks in order.

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

