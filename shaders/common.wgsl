// Shared helpers, prepended to shaders that say `//! requires: common`.

// The flat workgroup index of a grid split over x and y by gpu::grid.
fn flat_group(wg: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wg.x + wg.y * nwg.x;
}

// The index of element (row, col) of a GEMM result in packed tiles (gemm_common.wgsl):
// panels of 2^pn_log2 columns, tile_col floats apart.
fn packed_index(row: u32, col: u32, pn_log2: u32, tile_col: u32) -> u32 {
    return (row << pn_log2) + (col >> pn_log2) * tile_col + (col & ((1u << pn_log2) - 1u));
}
