//! `abprop devices`: the adapters wgpu sees and the one abprop uses.

use crate::gpu::Gpu;
use anyhow::Result;

pub fn run() -> Result<()> {
    for info in Gpu::adapters() {
        println!(
            "{:<48} {:?} {:?} {}",
            info.name, info.backend, info.device_type, info.driver_info
        );
    }
    let gpu = Gpu::new()?;
    let c = gpu.choice();
    println!(
        "abprop uses: {} ({}, {}){}; subgroups: {}, timestamps: {}",
        c.name,
        c.backend,
        c.device_type,
        if c.software { ", a software adapter" } else { "" },
        gpu.has_subgroups(),
        gpu.has_timestamps()
    );
    Ok(())
}
