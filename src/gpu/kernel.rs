//! Shaders, pipelines (created once, cached), dispatches (a pipeline, a bind group and a
//! grid, created once per shape) and their recording into one command encoder.

use super::Gpu;
use anyhow::{anyhow, bail, Result};
use std::sync::Arc;

/// Uniform parameters of one dispatch: 32-bit scalars in declaration order, padded to 16 bytes.
#[derive(Clone, Debug, Default)]
pub struct Params(pub Vec<u32>);

impl Params {
    pub fn new() -> Self {
        Params(Vec::new())
    }
    pub fn u(mut self, v: usize) -> Self {
        self.0.push(u32::try_from(v).expect("parameter exceeds u32"));
        self
    }
    pub fn i(mut self, v: i64) -> Self {
        self.0.push(i32::try_from(v).expect("parameter exceeds i32") as u32);
        self
    }
    pub fn f(mut self, v: f32) -> Self {
        self.0.push(v.to_bits());
        self
    }
    fn padded(&self) -> Vec<u32> {
        let mut v = self.0.clone();
        v.resize(v.len().next_multiple_of(4).max(4), 0);
        v
    }
}

/// One kernel launch, ready to record: nothing is created when it is recorded.
pub struct Dispatch {
    pub name: String,
    pipeline: Arc<wgpu::ComputePipeline>,
    bind_group: wgpu::BindGroup,
    pub groups: [u32; 3],
    /// Floating-point operations and bytes moved, for the benchmark's rates.
    pub flops: f64,
    pub bytes: f64,
    _uniform: Option<wgpu::Buffer>,
}

impl Dispatch {
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        if self.groups.contains(&0) {
            return;
        }
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.dispatch_workgroups(self.groups[0], self.groups[1], self.groups[2]);
    }
    pub fn with_cost(mut self, flops: f64, bytes: f64) -> Self {
        self.flops = flops;
        self.bytes = bytes;
        self
    }
}

/// What an op's constructor returns: its dispatches, in order, and the scratch tensors they
/// use (kept alive with them). Ops never submit; callers record `seq()` where they need it.
pub struct Op {
    /// Dispatches that depend on the parameters only (packing the weights into GEMM panels):
    /// they must run after the weights change and before `dispatches`, and need not run again
    /// while the weights stay the same (e.g. over the Langevin steps of one iteration).
    pub prep: Vec<Dispatch>,
    pub dispatches: Vec<Dispatch>,
    pub scratch: Vec<super::Tensor>,
}

impl Op {
    pub fn new(dispatches: Vec<Dispatch>) -> Op {
        Op {
            prep: Vec::new(),
            dispatches,
            scratch: Vec::new(),
        }
    }
    pub fn with_scratch(mut self, t: super::Tensor) -> Op {
        self.scratch.push(t);
        self
    }
    /// Marks `d` as preparation (see [`Op::prep`]).
    pub fn with_prep(mut self, d: Dispatch) -> Op {
        self.prep.push(d);
        self
    }
    /// Everything, in order: the preparation, then the dispatches.
    pub fn seq(&self) -> Vec<&Dispatch> {
        self.prep.iter().chain(self.dispatches.iter()).collect()
    }
    /// The dispatches alone, for when the preparation has run with the current weights.
    pub fn main_seq(&self) -> Vec<&Dispatch> {
        self.dispatches.iter().collect()
    }
    /// Appends another op's preparation, dispatches and scratch after this one's.
    pub fn then(mut self, other: Op) -> Op {
        self.prep.extend(other.prep);
        self.dispatches.extend(other.dispatches);
        self.scratch.extend(other.scratch);
        self
    }
    /// The work of `dispatches` (not of the preparation).
    pub fn flops(&self) -> f64 {
        self.dispatches.iter().map(|d| d.flops).sum()
    }
    pub fn bytes(&self) -> f64 {
        self.dispatches.iter().map(|d| d.bytes).sum()
    }
}

impl From<Dispatch> for Op {
    fn from(d: Dispatch) -> Op {
        Op::new(vec![d])
    }
}

/// Splits `n` workgroups over x and y so neither exceeds 65535; shaders rebuild the flat index
/// as `wg.x + wg.y * nwg.x` and return when it is `>= n`.
pub fn grid(n: u32) -> [u32; 3] {
    const MAX: u32 = 65535;
    if n <= MAX {
        [n, 1, 1]
    } else {
        let y = n.div_ceil(MAX);
        [n.div_ceil(y), y, 1]
    }
}

/// The bindings of group 0 that entry point `entry` of `shader` uses (wgpu's automatic
/// layout leaves the others out, so the bind group must too).
fn used_bindings(shader: &str, entry: &str) -> Result<Vec<u32>> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static CACHE: Mutex<Option<HashMap<String, Vec<u32>>>> = Mutex::new(None);
    let k = format!("{shader}:{entry}");
    if let Some(v) = CACHE.lock().unwrap().get_or_insert_with(HashMap::new).get(&k) {
        return Ok(v.clone());
    }
    let src = crate::shaders::source(shader).ok_or_else(|| anyhow!("no shader named {shader}"))?;
    let module =
        naga::front::wgsl::parse_str(&src).map_err(|e| anyhow!("shader {shader}: {}", e.emit_to_string(&src)))?;
    let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
        .validate(&module)
        .map_err(|e| anyhow!("shader {shader} does not validate: {}", e.emit_to_string(&src)))?;
    let ep = module
        .entry_points
        .iter()
        .position(|e| e.name == entry)
        .ok_or_else(|| anyhow!("shader {shader} has no entry point {entry}"))?;
    let fi = info.get_entry_point(ep);
    let mut used: Vec<u32> = module
        .global_variables
        .iter()
        .filter(|(h, g)| g.binding.is_some() && !fi[*h].is_empty())
        .map(|(_, g)| g.binding.as_ref().unwrap().binding)
        .collect();
    used.sort();
    CACHE
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .insert(k, used.clone());
    Ok(used)
}

fn key(shader: &str, entry: &str, constants: &[(&str, f64)]) -> String {
    let mut k = format!("{shader}:{entry}");
    for (n, v) in constants {
        k.push_str(&format!(":{n}={v}"));
    }
    k
}

impl Gpu {
    fn module(&self, shader: &str) -> Result<Arc<wgpu::ShaderModule>> {
        if let Some(m) = self.modules.lock().unwrap().get(shader) {
            return Ok(m.clone());
        }
        let src = crate::shaders::source(shader).ok_or_else(|| anyhow!("no shader named {shader}"))?;
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let m = self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(shader),
            source: wgpu::ShaderSource::Wgsl(src.into()),
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            bail!("shader {shader} does not compile: {e}");
        }
        let m = Arc::new(m);
        self.modules.lock().unwrap().insert(shader.to_string(), m.clone());
        Ok(m)
    }

    /// The compute pipeline for `entry` in shaders/`shader`.wgsl with the given override
    /// constants; created on first use and cached for the life of the device.
    pub fn pipeline(&self, shader: &str, entry: &str, constants: &[(&str, f64)]) -> Result<Arc<wgpu::ComputePipeline>> {
        let k = key(shader, entry, constants);
        if let Some(p) = self.pipelines.lock().unwrap().get(&k) {
            return Ok(p.clone());
        }
        let module = self.module(shader)?;
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let p = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&k),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants,
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            bail!("kernel {k}: pipeline creation failed: {e}");
        }
        let p = Arc::new(p);
        self.pipelines.lock().unwrap().insert(k, p.clone());
        Ok(p)
    }

    /// A dispatch of `entry` in `shader`: `params` (if any) is bound at binding 0 as a uniform,
    /// then `buffers` at bindings 1, 2, ... in order.
    pub fn dispatch(
        &self,
        shader: &str,
        entry: &str,
        constants: &[(&str, f64)],
        params: Option<&Params>,
        buffers: &[&wgpu::Buffer],
        groups: [u32; 3],
    ) -> Result<Dispatch> {
        let pipeline = self.pipeline(shader, entry, constants)?;
        let name = key(shader, entry, constants);
        let uniform = params.map(|p| {
            use wgpu::util::DeviceExt;
            self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(&name),
                contents: bytemuck::cast_slice(&p.padded()),
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            })
        });
        let used = used_bindings(shader, entry)?;
        let mut entries = Vec::new();
        if let Some(u) = &uniform {
            if used.contains(&0) {
                entries.push(wgpu::BindGroupEntry {
                    binding: 0,
                    resource: u.as_entire_binding(),
                });
            }
        }
        for (i, b) in buffers
            .iter()
            .enumerate()
            .filter(|(i, _)| used.contains(&(*i as u32 + 1)))
        {
            entries.push(wgpu::BindGroupEntry {
                binding: i as u32 + 1,
                resource: b.as_entire_binding(),
            });
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let layout = pipeline.get_bind_group_layout(0);
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&name),
            layout: &layout,
            entries: &entries,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            bail!("kernel {name}: its buffers do not fit the shader's bindings: {e}");
        }
        for (i, g) in groups.iter().enumerate() {
            if *g > self.limits.max_compute_workgroups_per_dimension {
                bail!("kernel {name}: {g} workgroups in dimension {i} exceed the limit; use gpu::grid");
            }
        }
        Ok(Dispatch {
            name,
            pipeline,
            bind_group,
            groups,
            flops: 0.0,
            bytes: 0.0,
            _uniform: uniform,
        })
    }

    /// A dispatch of an elementwise kernel over `n4` vec4 slots (the layout of `slot` in
    /// shaders/common.wgsl): `self.slots` slots per invocation, workgroups of
    /// [`super::WORKGROUP`]; otherwise as [`Gpu::dispatch`].
    pub fn elementwise(
        &self,
        shader: &str,
        entry: &str,
        constants: &[(&str, f64)],
        params: &Params,
        buffers: &[&wgpu::Buffer],
        n4: usize,
    ) -> Result<Dispatch> {
        let slots = self.slots.max(1);
        let mut c = constants.to_vec();
        c.push(("SLOTS", slots as f64));
        let groups = n4.div_ceil((super::WORKGROUP * slots) as usize);
        self.dispatch(shader, entry, &c, Some(params), buffers, grid(groups as u32))
    }

    /// Records `seq` into one compute pass of `enc`.
    pub fn record(&self, enc: &mut wgpu::CommandEncoder, seq: &[&Dispatch]) {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("abprop"),
            timestamp_writes: None,
        });
        for d in seq {
            d.record(&mut pass);
        }
    }

    /// A new command encoder.
    pub fn encoder(&self) -> wgpu::CommandEncoder {
        self.device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("abprop") })
    }

    /// Submits an encoder, turning validation and out-of-memory errors into an error that
    /// names the kernels in `what`.
    pub fn submit(&self, enc: wgpu::CommandEncoder, what: &str) -> Result<wgpu::SubmissionIndex> {
        let v = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let o = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let idx = self.queue.submit([enc.finish()]);
        self.submits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let oom = pollster::block_on(o.pop());
        let val = pollster::block_on(v.pop());
        if let Some(e) = oom {
            bail!("out of GPU memory running {what}: {e}");
        }
        if let Some(e) = val {
            bail!("GPU validation error running {what}: {e}");
        }
        self.check().map_err(|e| anyhow!("{e} (running {what})"))?;
        Ok(idx)
    }

    /// Records `seq` in one encoder, submits it once and waits.
    pub fn run(&self, seq: &[&Dispatch]) -> Result<()> {
        let mut enc = self.encoder();
        self.record(&mut enc, seq);
        let names: Vec<&str> = seq.iter().map(|d| d.name.as_str()).collect();
        self.submit(enc, &names.join(", "))?;
        self.wait()
            .map_err(|e| anyhow!("{e} (while running {})", names.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::grid;

    #[test]
    fn grid_covers_n_within_the_dimension_limit() {
        for n in [1, 2, 65535, 65536, 65537, 131071, 131072, 1 << 24, 65535 * 65535] {
            let g = grid(n);
            assert!(g[0] <= 65535 && g[1] <= 65535 && g[2] == 1, "{n}: {g:?}");
            let total = g[0] as u64 * g[1] as u64;
            // Enough workgroups, and fewer than one extra row of them.
            assert!(total >= n as u64 && total - (n as u64) < g[0] as u64, "{n}: {g:?}");
        }
        assert_eq!(grid(65535), [65535, 1, 1]);
    }
}
