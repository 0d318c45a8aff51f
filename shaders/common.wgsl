// Shared helpers, prepended to shaders that say `//! requires: common`.

// The flat workgroup index of a grid split over x and y by gpu::grid.
fn flat_group(wg: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wg.x + wg.y * nwg.x;
}
