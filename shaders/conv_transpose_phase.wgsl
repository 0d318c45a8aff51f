//! requires: common
// The scatter step of the phase-split forward transposed convolution
// (src/ops/conv_transpose/phase.rs). With strides (sh, sw), an output (oy, ox) belongs to the
// phase (ry, rx) = ((oy + ph) mod sh, (ox + pw) mod sw) at q = ((oy + ph) / sh, (ox + pw) / sw)
// and receives only the taps (ry + sh ty, rx + sw tx) at the inputs (qy - ty, qx - tx), so a
// GEMM per phase computes every output once:
//   C[co][(b, qy, qx)] = sum over (ci, ty, tx) of w[ci, co, ry + sh ty, rx + sw tx] x[b, ci, qy - ty, qx - tx]
// (zero where a tap or an input falls outside). This kernel moves C, in packed tiles
// (gemm_common.wgsl), to y[b0 + b, co, oy, ox] and adds the bias: one read per output, no sums.
// - 2-D layers (src/ops/conv_transpose/lanes8.rs, `forward_window`): one GEMM and one
//   dispatch per phase, the q grid of the phase exactly inside y (PHASES = 1, no bounds test).
// - 1-D layers (h = 1, `forward_phase`): one GEMM stacks the sw phases along its rows,
//   C[(rx, co)][(b, q)], over the q that any phase needs; a dispatch takes every phase
//   (PHASES = sw, the output of phase rx is ox0 + rx + sw qx) and leaves out the outputs past
//   either end of y (BOUNDS).

struct Params {
    c_out: u32,
    qh: u32,       // q rows per plane
    qw: u32,       // q columns per plane: C column of (b, qy, qx) is b * qh * qw + qy * qw + qx
    oy0: i32,      // the output of q = (0, 0) in the phase of row block 0
    ox0: i32,
    sh: u32,
    sw: u32,
    h_out: u32,
    w_out: u32,
    b0: u32,       // first batch element of this chunk
    planes: u32,   // (b, co) planes of this chunk
    pn_log2: u32,  // C is in packed tiles of 2^pn_log2 columns
    tile_col: u32, // floats between column panels: mt * 64 * pn
}

@group(0) @binding(0) var<uniform> p: Params;
// C, read by component (cols[i >> 2][i & 3], one scalar load) or, with V4, a vec4 at a time.
@group(0) @binding(1) var<storage, read> cols: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

// V4: the host promises qh * qw % 4 == 0, qw >= 4 and panels of >= 4 columns, so that four
// consecutive slots of a plane lie in four consecutive, 16-byte aligned floats of C (a 1-D
// chunk of one batch element may round qw up to a multiple of 4: the extra q lie past w_out).
override V4: bool = false;
// Phases stacked along the rows of C (row = phase * c_out + co); phase r adds r to ox.
override PHASES: u32 = 1u;
// Whether outputs may fall outside y (then they are left out).
override BOUNDS: bool = false;

fn c_at(row: u32, col: u32) -> f32 {
    let i = packed_index(row, col, p.pn_log2, p.tile_col);
    return cols[i >> 2u][i & 3u];
}

// One slot per q of this dispatch (V4: per four q), in the elementwise layout (`slot`,
// common.wgsl): t = (plane, qy, qx) flattened (short rows such as 4 x 4 images would leave
// most of a 64-wide workgroup idle otherwise); the host keeps t below 2^24 for udiv24.
@compute @workgroup_size(256)
fn phase_scatter(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) li: u32) {
    for (var k = 0u; k < SLOTS; k = k + 1u) {
        let t = slot(wg, nwg, li, k);
        if V4 {
            if 4u * t >= p.planes * p.qh * p.qw { return; }
            scatter_four(4u * t);
        } else {
            if t >= p.planes * p.qh * p.qw { return; }
            scatter_one(t);
        }
    }
}

// Where flat index t = (plane, qy, qx) lies: the plane's (b, co), the index r = qy qw + qx
// within the plane, and (qy, qx).
struct At {
    plane: u32,
    b: u32,
    co: u32,
    r: u32,
    qy: u32,
    qx: u32,
}

fn at(t: u32) -> At {
    let qhw = p.qh * p.qw;
    let plane = udiv24(t, qhw);
    let r = t - plane * qhw;
    let qy = udiv24(r, p.qw);
    let b = udiv24(plane, p.c_out);
    return At(plane, b, plane - b * p.c_out, r, qy, r - qy * p.qw);
}

// The outputs of slots t .. t+3 of a plane (t % 4 == 0): per phase one vec4 load of C and four
// stores (sw apart along a row of y; the last ones may wrap to the next q row, at most once
// since qw >= 4).
fn scatter_four(t: u32) {
    let a = at(t);
    let col = a.b * p.qh * p.qw + a.r;
    let bv = vec4<f32>(bias[a.co]);
    let base = (p.b0 * p.c_out + a.plane) * p.h_out;
    let x = vec4<u32>(a.qx) + vec4<u32>(0u, 1u, 2u, 3u);
    let wrap = x >= vec4<u32>(p.qw);
    let xs = select(x, x - vec4<u32>(p.qw), wrap);
    let ys = select(vec4<u32>(a.qy), vec4<u32>(a.qy + 1u), wrap);
    let oy = vec4<i32>(p.oy0) + i32(p.sh) * vec4<i32>(ys);
    let ox = vec4<i32>(p.ox0) + i32(p.sw) * vec4<i32>(xs);
    let row = (vec4<u32>(base) + bitcast<vec4<u32>>(oy)) * p.w_out;
    for (var r = 0u; r < PHASES; r = r + 1u) {
        let v = cols[packed_index(r * p.c_out + a.co, col, p.pn_log2, p.tile_col) >> 2u] + bv;
        let oxr = ox + vec4<i32>(i32(r));
        let i = row + bitcast<vec4<u32>>(oxr);
        if BOUNDS {
            let in_x = (oxr >= vec4<i32>(0)) & (oxr < vec4<i32>(i32(p.w_out)));
            let ok = in_x & (oy >= vec4<i32>(0)) & (oy < vec4<i32>(i32(p.h_out)));
            if ok.x { y[i.x] = v.x; }
            if ok.y { y[i.y] = v.y; }
            if ok.z { y[i.z] = v.z; }
            if ok.w { y[i.w] = v.w; }
        } else {
            y[i.x] = v.x;
            y[i.y] = v.y;
            y[i.z] = v.z;
            y[i.w] = v.w;
        }
    }
}

fn scatter_one(t: u32) {
    let a = at(t);
    let col = a.b * p.qh * p.qw + a.r;
    let bv = bias[a.co];
    let oy = p.oy0 + i32(p.sh * a.qy);
    let row = ((p.b0 * p.c_out + a.plane) * p.h_out + u32(oy)) * p.w_out;
    for (var r = 0u; r < PHASES; r = r + 1u) {
        let ox = p.ox0 + i32(p.sw * a.qx + r);
        if !BOUNDS || (ox >= 0 && ox < i32(p.w_out) && oy >= 0 && oy < i32(p.h_out)) {
            y[row + u32(ox)] = c_at(r * p.c_out + a.co, col) + bv;
        }
    }
}
