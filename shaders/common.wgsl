// Shared helpers, prepended to shaders that say `//! requires: common`.

// The flat workgroup index of a grid split over x and y by gpu::grid.
fn flat_group(wg: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wg.x + wg.y * nwg.x;
}

// The elementwise kernels (copy, activations, optimizers, Langevin, normals) visit SLOTS vec4
// slots per invocation: a workgroup of 256 takes 256 * SLOTS consecutive slots, invocation li
// the slots li, li + 256, ... (neighbours touch neighbours on every pass). The host sets SLOTS
// per adapter (`Gpu::slots`, with the matching grid in `Gpu::elementwise`): 1 on a GPU, 8 on a
// software adapter, where a workgroup costs about a microsecond, as much as copying ~8 KiB.
override SLOTS: u32 = 1u;

// The k-th slot (k < SLOTS) of invocation li in the elementwise layout above.
fn slot(wg: vec3<u32>, nwg: vec3<u32>, li: u32, k: u32) -> u32 {
    return flat_group(wg, nwg) * (256u * SLOTS) + k * 256u + li;
}

// The index of element (row, col) of a GEMM result in packed tiles (gemm_common.wgsl):
// panels of 2^pn_log2 columns, tile_col floats apart.
fn packed_index(row: u32, col: u32, pn_log2: u32, tile_col: u32) -> u32 {
    return (row << pn_log2) + (col >> pn_log2) * tile_col + (col & ((1u << pn_log2) - 1u));
}

// x / d for x < 2^24, d >= 1, without an integer division: CPU drivers (lavapipe, llvmpipe)
// turn a division of vectors into one scalar divide per lane, ~25 cycles each. The f32
// quotient is within 2 of the truth even at WGSL's 2.5-ULP division bound when d >= 3, so
// two steps each way correct it; a power of two is a shift.
fn udiv24(x: u32, d: u32) -> u32 {
    var q = u32(f32(x) / f32(d));
    q = select(q, q - 1u, q * d > x);
    q = select(q, q - 1u, q * d > x);
    q = select(q, q + 1u, (q + 1u) * d <= x);
    q = select(q, q + 1u, (q + 1u) * d <= x);
    return select(q, x >> countTrailingZeros(d), (d & (d - 1u)) == 0u);
}
