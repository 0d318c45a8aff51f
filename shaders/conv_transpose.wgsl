//! requires: common
// Transposed convolution helpers around the packed GEMM (src/ops/conv_transpose.rs):
//
// pack_dy: gathers the strided windows of dy into the B panel layout of gemm_pack.wgsl,
//   bp[(nt * 4*k4 + k) * pn4 + c][i] = B[k][nt*4*pn4 + 4c + i], zero outside B and outside dy:
//   orient 0 (backward_input):   B[k = (co, ky, kx)][n = (b, iy, ix)]
//   orient 1 (backward_weights): B[k = (b, iy, ix)][n = (co, ky, kx)]
//   with value dy[b0 + b, co, iy*sh - ph + ky, ix*sw - pw + kx].
// col2im (forward): y[b0 + b, co, oy, ox] = bias[co] + the sum, in a fixed order, of
//   cols[(co, ky, kx)][(b, iy, ix)] over the taps with oy = iy*sh - ph + ky, ox = ix*sw - pw + kx.

struct ConvParams {
    rows: u32,    // pack_dy: columns of B (N); col2im: elements of y in this chunk
    k: u32,       // pack_dy: rows of B (K)
    k4: u32,      // pack_dy: padded K / 4
    total: u32,   // pack_dy: packed vec4 count
    pn4: u32,     // pack_dy: panel width / 4
    orient: u32,
    b0: u32,      // first batch element of this chunk
    bc: u32,      // batch elements in this chunk
    c_out: u32,
    h_in: u32,
    w_in: u32,
    h_out: u32,
    w_out: u32,
    kh: u32,
    kw: u32,
    sh: u32,
    sw: u32,
    ph: u32,
    pw: u32,
}

@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

fn dy_at(k: u32, n: u32) -> f32 {
    var cidx: u32;
    var pidx: u32;
    if p.orient == 0u {
        cidx = k;
        pidx = n;
    } else {
        cidx = n;
        pidx = k;
    }
    let taps = p.kh * p.kw;
    let co = cidx / taps;
    let t = cidx % taps;
    let ky = t / p.kw;
    let kx = t % p.kw;
    let hw = p.h_in * p.w_in;
    let b = pidx / hw;
    let pos = pidx % hw;
    let iy = pos / p.w_in;
    let ix = pos % p.w_in;
    let oy = i32(iy * p.sh + ky) - i32(p.ph);
    let ox = i32(ix * p.sw + kx) - i32(p.pw);
    if oy < 0 || ox < 0 || oy >= i32(p.h_out) || ox >= i32(p.w_out) {
        return 0.0;
    }
    return src[((p.b0 + b) * p.c_out + co) * p.h_out * p.w_out + u32(oy) * p.w_out + u32(ox)];
}

@compute @workgroup_size(256)
fn pack_dy(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
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
        for (var i = 0u; i < 4u; i = i + 1u) {
            if n0 + i < p.rows {
                v[i] = dy_at(k, n0 + i);
            }
        }
    }
    dst[id] = v;
}

// src = cols [(co, ky, kx)][(b, iy, ix)] of this chunk, y = the whole output.
@compute @workgroup_size(256)
fn col2im(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    let id = flat_group(wg, nwg) * 256u + li;
    if id >= p.rows { return; }
    let hwo = p.h_out * p.w_out;
    let ox = id % p.w_out;
    let oy = (id / p.w_out) % p.h_out;
    let co = (id / hwo) % p.c_out;
    let b = id / (hwo * p.c_out);
    let hw = p.h_in * p.w_in;
    let n_cols = p.bc * hw;
    let yy = oy + p.ph;
    let xx = ox + p.pw;
    var acc = 0.0;
    for (var ky = yy % p.sh; ky < p.kh && ky <= yy; ky = ky + p.sh) {
        let iy = (yy - ky) / p.sh;
        if iy < p.h_in {
            let row = (co * p.kh + ky) * p.kw;
            let colb = b * hw + iy * p.w_in;
            for (var kx = xx % p.sw; kx < p.kw && kx <= xx; kx = kx + p.sw) {
                let ix = (xx - kx) / p.sw;
                if ix < p.w_in {
                    acc = acc + src[(row + kx) * n_cols + colb + ix];
                }
            }
        }
    }
    y[p.b0 * p.c_out * hwo + id] = acc + bias[co];
}
