//! The GPU runtime's own guarantees: large grids split over two dimensions, and bad requests
//! (a tensor over the binding limit, buffers that do not fit a kernel, too many workgroups)
//! are errors that say what and where, not panics.
mod common;
use abprop::gpu::{grid, Params};
use abprop::ops::philox;
use common::*;

#[test]
fn dispatch_of_more_than_65535_workgroups_is_split_and_covers_every_call() {
    // 64 calls per workgroup: 65537 workgroups, so the grid is split over x and y (gpu::grid)
    // and the last row of the grid is partly beyond the calls. Every call must be computed once,
    // at its own index: counters carry the call's index, so a wrong or missed index shows.
    let g = gpu();
    let calls = 65536 * 64 + 1;
    assert!(abprop::gpu::grid((calls as u32).div_ceil(64))[1] > 1);
    let ctr: Vec<u32> = (0..calls as u32).flat_map(|i| [i, 0x5eed, i ^ 0xffff, 7]).collect();
    let key: Vec<u32> = (0..calls as u32).flat_map(|i| [0x1234_5678, i]).collect();
    let tc = g.upload::<u32>("ctr", &[calls, 4], &ctr).unwrap();
    let tk = g.upload::<u32>("key", &[calls, 2], &key).unwrap();
    let to = g.zeros("out", &[calls, 4]).unwrap();
    g.run(&philox::raw(g, &tc, &tk, &to).unwrap().seq()).unwrap();
    let out = g.read::<u32>(&to).unwrap();
    for i in (0..calls).step_by(997).chain(calls - 64..calls) {
        let want = philox::cpu::philox4x32_10(
            [ctr[4 * i], ctr[4 * i + 1], ctr[4 * i + 2], ctr[4 * i + 3]],
            [key[2 * i], key[2 * i + 1]],
        );
        assert_eq!(&out[4 * i..4 * i + 4], &want, "call {i}");
    }
    // No call left unwritten (the output started as zeros; Philox of these inputs is never 0).
    let zero = out.chunks(4).position(|c| c == [0, 0, 0, 0]);
    assert_eq!(zero, None, "a call was not computed");
}

#[test]
fn a_tensor_over_the_binding_limit_is_a_clear_error() {
    let g = gpu();
    let max = g.limits.max_storage_buffer_binding_size as usize;
    let e = g
        .zeros("huge activations", &[max / 4 + 1])
        .err()
        .expect("too large")
        .to_string();
    assert!(e.contains("huge activations") && e.contains("MiB"), "{e}");
    let e = g.upload::<f32>("huge data", &[max / 4 + 1], &vec![0.0; max / 4 + 1]);
    assert!(e.err().expect("too large").to_string().contains("huge data"));
    // The largest tensor that fits is fine.
    assert!(g.zeros("largest", &[max / 4]).is_ok());
}

#[test]
fn bad_dispatches_are_errors_naming_the_kernel() {
    let g = gpu();
    let a = g.zeros("a", &[64]).unwrap();
    let params = Params::new().u(16);
    // copy binds src and dst: one buffer is too few.
    let e = g
        .dispatch("copy", "copy", &[], Some(&params), &[&a.buffer], [1, 1, 1])
        .err()
        .expect("a missing binding is an error")
        .to_string();
    assert!(e.contains("copy"), "{e}");
    // More workgroups in one dimension than the device allows (gpu::grid splits them).
    let b = g.zeros("b", &[64]).unwrap();
    let e = g
        .dispatch(
            "copy",
            "copy",
            &[],
            Some(&params),
            &[&a.buffer, &b.buffer],
            [70000, 1, 1],
        )
        .err()
        .expect("too many workgroups is an error")
        .to_string();
    assert!(e.contains("copy") && e.contains("70000"), "{e}");
    // An entry point or shader that does not exist.
    let e = g
        .pipeline("copy", "no_such_entry", &[])
        .expect_err("unknown entry")
        .to_string();
    assert!(e.contains("no_such_entry"), "{e}");
    let e = g
        .pipeline("no_such_shader", "main", &[])
        .expect_err("unknown shader")
        .to_string();
    assert!(e.contains("no_such_shader"), "{e}");
    // The good dispatch still works after the errors.
    let d = g
        .dispatch("copy", "copy", &[], Some(&params), &[&a.buffer, &b.buffer], grid(1))
        .unwrap();
    g.run(&[&d]).unwrap();
}

#[test]
fn a_software_gl_adapter_points_to_the_vulkan_driver_once() {
    let run = |backend: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_abprop"))
            .arg("devices")
            .env("WGPU_BACKEND", backend)
            .output()
            .unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (stdout, stderr) = run("gl");
    if stdout.contains("a software adapter") && stdout.contains("(Gl,") {
        assert_eq!(stderr.matches("several times faster").count(), 1, "{stderr}");
        assert!(
            stderr.contains("WGPU_BACKEND=vulkan") || stderr.contains("mesa-vulkan-drivers"),
            "{stderr}"
        );
    }
    // Not on the Vulkan driver itself.
    let (_, stderr) = run("vulkan");
    assert!(!stderr.contains("several times faster"), "{stderr}");
}
