//! requires: common
// The scatter step of the phase-split forward transposed convolution for 2-D layers
// (src/ops/conv_transpose.rs, `forward_window`). For the phase (ry, rx) the outputs are
// oy = sh qy + ry - ph, ox = sw qx + rx - pw; gemm_64x64_win (shaders/gemm_sg.wgsl) left
//   C[co][(b, qy - qy0, qx - qx0)] = sum over (ci, ty, tx) of w[ci, co, ry + sh ty, rx + sw tx] x[b, ci, qy - ty, qx - tx]
// in packed tiles (gemm_common.wgsl); this kernel moves it to y[b0 + b, co, oy, ox] and adds the
// bias. Every output belongs to exactly one phase, so the four dispatches write y once.

struct Params {
    c_out: u32,
    qh: u32,       // q rows of this phase
    qw: u32,       // q columns of this phase
    oy0: u32,      // the output of (qy0, qx0): oy0 = sh qy0 + ry - ph, ox0 likewise
    ox0: u32,
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
// consecutive outputs of a plane lie in four consecutive, 16-byte aligned floats of C.
override V4: bool = false;

fn c_at(row: u32, col: u32) -> f32 {
    let i = packed_index(row, col, p.pn_log2, p.tile_col);
    return cols[i >> 2u][i & 3u];
}

// One slot per output of this phase and chunk (V4: per four outputs), in the elementwise
// layout (`slot`, common.wgsl): t = (plane, qy, qx) flattened (short rows such as 4 x 4
// images would leave most of a 64-wide workgroup idle otherwise); the host keeps t below 2^24
// for udiv24.
@compute @workgroup_size(256)
fn phase_scatter2(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
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

// Where flat index t = (plane, qy, qx) of this phase and chunk lies: the plane's (b, co), the
// index r = qy qw + qx within the plane, and (qy, qx).
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

// Outputs t .. t+3 of a plane (t % 4 == 0): one vec4 load of C, four stores (stride sw along
// a row of y; the last ones may wrap to the next q row, at most once since qw >= 4).
fn scatter_four(t: u32) {
    let a = at(t);
    let col = a.b * p.qh * p.qw + a.r;
    let v = cols[packed_index(a.co, col, p.pn_log2, p.tile_col) >> 2u] + vec4<f32>(bias[a.co]);
    let base = (p.b0 * p.c_out + a.plane) * p.h_out;
    let x = vec4<u32>(a.qx) + vec4<u32>(0u, 1u, 2u, 3u);
    let wrap = x >= vec4<u32>(p.qw);
    let xs = select(x, x - vec4<u32>(p.qw), wrap);
    let ys = select(vec4<u32>(a.qy), vec4<u32>(a.qy + 1u), wrap);
    let i = (vec4<u32>(base + p.oy0) + p.sh * ys) * p.w_out + vec4<u32>(p.ox0) + p.sw * xs;
    y[i.x] = v.x;
    y[i.y] = v.y;
    y[i.z] = v.z;
    y[i.w] = v.w;
}

fn scatter_one(t: u32) {
    let a = at(t);
    let oy = p.oy0 + p.sh * a.qy;
    let ox = p.ox0 + p.sw * a.qx;
    let v = c_at(a.co, a.b * p.qh * p.qw + a.r) + bias[a.co];
    y[((p.b0 * p.c_out + a.plane) * p.h_out + oy) * p.w_out + ox] = v;
}
