//! requires: common
// Packs GEMM operands into the panel layouts of gemm.wgsl / gemm_sg.wgsl, gathering through an
// affine map and writing zeros outside the matrix (so the micro-kernels need no bounds checks):
//   pack_a: ap[(mt * k4 + q) * 64 + r][i] = A[mt*64 + r][4q + i]
//           A[m][k] = src[off + m * s_major + (k / div) * s_div + (k % div) * s_mod]
//   pack_b: bp[(nt * 4*k4 + k) * pn4 + c][i] = B[k][nt*4*pn4 + 4c + i]
//           B[k][n] = src[off + k * s_major + (n / div) * s_div + (n % div) * s_mod]
// One invocation per packed vec4.

struct PackParams {
    rows: u32,     // M (pack_a) or N (pack_b): the panel dimension
    k: u32,        // K
    k4: u32,       // padded K / 4
    total: u32,    // packed vec4 count
    pn4: u32,      // pack_b: panel width / 4
    off: u32,
    s_major: u32,
    div: u32,
    s_div: u32,
    s_mod: u32,
}

@group(0) @binding(0) var<uniform> p: PackParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

@compute @workgroup_size(256)
fn pack_a(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    let id = flat_group(wg, nwg) * 256u + li;
    if id >= p.total { return; }
    let r = id % 64u;
    let t = id / 64u;
    let q = t % p.k4;
    let m = (t / p.k4) * 64u + r;
    var v = vec4<f32>(0.0);
    if m < p.rows {
        let base = p.off + m * p.s_major;
        for (var i = 0u; i < 4u; i = i + 1u) {
            let k = q * 4u + i;
            if k < p.k {
                v[i] = src[base + (k / p.div) * p.s_div + (k % p.div) * p.s_mod];
            }
        }
    }
    dst[id] = v;
}

@compute @workgroup_size(256)
fn pack_b(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    let id = flat_group(wg, nwg) * 256u + li;
    if id >= p.total { return; }
    let c = id % p.pn4;
    let t = id / p.pn4;
    let kp = p.k4 * 4u;
    let k = t % kp;
    let n0 = (t / kp) * p.pn4 * 4u + c * 4u;
    var v = vec4<f32>(0.0);
    if k < p.k {
        let base = p.off + k * p.s_major;
        for (var i = 0u; i < 4u; i = i + 1u) {
            let n = n0 + i;
            if n < p.rows {
                v[i] = src[base + (n / p.div) * p.s_div + (n % p.div) * p.s_mod];
            }
        }
    }
    dst[id] = v;
}
