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
@group(0) @binding(1) var<storage, read> cols: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

fn c_at(row: u32, col: u32) -> f32 {
    return cols[packed_index(row, col, p.pn_log2, p.tile_col)];
}

// One slot per output of this phase and chunk, in the elementwise layout (`slot`,
// common.wgsl): t = (plane, qy, qx) flattened (short rows such as 4 x 4 images would leave
// most of a 64-wide workgroup idle otherwise); the host keeps t below 2^24 for udiv24.
@compute @workgroup_size(256)
fn phase_scatter2(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) li: u32) {
    for (var k = 0u; k < SLOTS; k = k + 1u) {
        let t = slot(wg, nwg, li, k);
        if t >= p.planes * p.qh * p.qw { return; }
        scatter_one(t);
    }
}

fn scatter_one(t: u32) {
    let qhw = p.qh * p.qw;
    let plane = udiv24(t, qhw);
    let r = t - plane * qhw;
    let qy = udiv24(r, p.qw);
    let qx = r - qy * p.qw;
    let b = udiv24(plane, p.c_out);
    let co = plane - b * p.c_out;
    let oy = p.oy0 + p.sh * qy;
    let ox = p.ox0 + p.sw * qx;
    y[((p.b0 * p.c_out + plane) * p.h_out + oy) * p.w_out + ox] = c_at(co, b * qhw + r) + bias[co];
}
