//! requires: common
// col2im for the forward transposed convolution (src/ops/conv_transpose/mod.rs): the GEMM leaves
// cols[(co, ky, kx)][(b, iy, ix)] = sum_ci w[ci, co, ky, kx] x[b, ci, iy, ix] for one batch
// chunk, and each output sums the taps that land on it, in a fixed order (no atomics):
//   y[b0 + b, co, oy, ox] = bias[co] + sum over ky = (oy + ph) mod sh + a * sh, iy = (oy + ph - ky) / sh
//                                      and kx likewise of cols[(co, ky, kx)][(b, iy, ix)]
// cols is row-major (the GEMM's direct stores) after a margin of a few floats.

struct Col2imParams {
    c_out: u32,
    b0: u32,      // first batch element of this chunk
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
    ld: u32,       // cols is row-major: ld columns per row (the chunk's batch * h_in * w_in)
    margin: u32,   // floats before cols[0][0] (a multiple of 4, >= taps per phase + 2)
    rows: u32,     // (plane, oy, px) rows of this chunk: planes * h_out * sw
    jx: u32,       // outputs per row: ceil(w_out / sw)
    j_log2: u32,   // rows are 2^j_log2 invocations apart when jx <= 64 (else 0)
    j_blocks: u32, // workgroups per row when jx > 64 (else 0)
}

@group(0) @binding(0) var<uniform> p: Col2imParams;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> cols4: array<vec4<f32>>;

// Elements a .. a+3 of cols (counted from the start of the buffer) from the two aligned vec4s
// around them: two vector loads rather than four scalar ones (on CPU drivers a load costs
// about the same whatever its width). `a & 3` is the same for every invocation of a row.
fn cols_run(a: u32) -> vec4<f32> {
    let lo = cols4[a >> 2u];
    let hi = cols4[(a >> 2u) + 1u];
    switch a & 3u {
        case 0u: { return lo; }
        case 1u: { return vec4<f32>(lo.yzw, hi.x); }
        case 2u: { return vec4<f32>(lo.zw, hi.xy); }
        default: { return vec4<f32>(lo.w, hi.xyz); }
    }
}

// The outputs are grouped in rows of one phase: row = (plane, oy, px), holding
// ox = px + sw * j for j < jx; an invocation computes 4 consecutive j (sharing the index math
// and the bias). Short rows share a workgroup (64 >> j_log2 of them); long rows take j_blocks
// workgroups. The taps of a row are the same for all its outputs, so the loops below are
// uniform within a row. (Rows below 2^24: the op sizes its chunks for that.)
@compute @workgroup_size(64)
fn col2im(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>,
          @builtin(num_workgroups) nwg: vec3<u32>) {
    let g = flat_group(wg, nwg);
    var row: u32;
    var jq: u32;
    if p.j_blocks == 0u {
        row = (g << (6u - p.j_log2)) + (li >> p.j_log2);
        jq = li & ((1u << p.j_log2) - 1u);
    } else {
        row = udiv24(g, p.j_blocks);
        jq = (g - row * p.j_blocks) * 64u + li;
    }
    let j0 = jq * 4u;
    if row >= p.rows || j0 >= p.jx { return; }
    let r = udiv24(row, p.sw);
    let px = row - r * p.sw;
    let plane = udiv24(r, p.h_out);
    let oy = r - plane * p.h_out;
    let b = udiv24(plane, p.c_out);
    let co = plane - b * p.c_out;
    let yy = oy + p.ph;
    let xx0 = px + p.pw;
    let qy = udiv24(yy, p.sh);
    let qx0 = udiv24(xx0, p.sw);
    let ky0 = yy - qy * p.sh;
    let kx0 = xx0 - qx0 * p.sw;
    let colb = b * p.h_in * p.w_in;
    let qx = i32(qx0 + j0);
    let w_in = i32(p.w_in);
    var acc = vec4<f32>(0.0);
    var iy = i32(qy);
    for (var ky = ky0; ky < p.kh; ky = ky + p.sh) {
        if iy >= 0 && u32(iy) < p.h_in {
            let rowb = (co * p.kh + ky) * p.kw;
            let cb = i32(colb + u32(iy) * p.w_in);
            var ix = qx;
            for (var kx = kx0; kx < p.kw; kx = kx + p.sw) {
                // Columns ix .. ix+3 of row (co, ky, kx); the margins around cols keep the
                // reads inside the buffer, and the columns outside x are dropped.
                let v = cols_run(u32(i32(p.margin + (rowb + kx) * p.ld) + cb + ix));
                let xs = vec4<i32>(ix) + vec4<i32>(0, 1, 2, 3);
                acc = acc + select(vec4<f32>(0.0), v, xs >= vec4<i32>(0) & xs < vec4<i32>(w_in));
                ix = ix - 1;
            }
        }
        iy = iy - 1;
    }
    let hwo = p.h_out * p.w_out;
    let yb = (p.b0 * p.c_out + plane) * hwo + oy * p.w_out;
    let bv = bias[co];
    let ox = px + p.sw * j0;
    for (var i = 0u; i < 4u; i = i + 1u) {
        if j0 + i < p.jx && ox + i * p.sw < p.w_out {
            y[yb + ox + i * p.sw] = acc[i] + bv;
        }
    }
}
