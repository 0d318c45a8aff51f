//! Adapter choice and the device.

use anyhow::{anyhow, bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// What was chosen and why, for `abprop devices` and the log.
#[derive(Clone, Debug)]
pub struct AdapterChoice {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub software: bool,
}

/// Kernel choices made by a tuning step (src/ops/tune.rs), by key (for the GEMM the shape
/// "MxNxK" -> the kernel's name), and the keys asked for without a choice since the last step.
/// Inactive (nothing looked up, nothing recorded) until a tuning step turns it on.
#[derive(Debug, Default)]
pub struct Choices {
    pub active: bool,
    pub made: BTreeMap<String, String>,
    pub missed: BTreeSet<String>,
}

/// The device, its queue and the caches of shaders and pipelines.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub features: wgpu::Features,
    pub limits: wgpu::Limits,
    /// Subgroup size range reported by the adapter (min, max); meaningful with `SUBGROUP`.
    pub subgroup_size: (u32, u32),
    pub(crate) pipelines: Mutex<HashMap<String, Arc<wgpu::ComputePipeline>>>,
    pub(crate) modules: Mutex<HashMap<String, Arc<wgpu::ShaderModule>>>,
    pub(crate) lost: Arc<Mutex<Option<String>>>,
    pub(crate) uncaptured: Arc<Mutex<Vec<String>>>,
    /// vec4 slots each invocation of an elementwise kernel visits (`SLOTS` in
    /// shaders/common.wgsl): 8 on a software adapter, where each workgroup costs about a
    /// microsecond (copy moves ~1.4x the bytes per second of 1 slot there), 1 on a GPU. Any
    /// value >= 1 computes the same; tests set it to check both layouts. `ABPROP_SLOTS`
    /// overrides the default.
    pub slots: u32,
    /// Submits and read-backs so far (for the benchmark's per-iteration counts).
    pub submits: std::sync::atomic::AtomicUsize,
    pub readbacks: std::sync::atomic::AtomicUsize,
    /// What the tuning step chose (see [`Choices`]); ops read it through [`Gpu::chosen`].
    pub choices: Mutex<Choices>,
}

/// Mesa's headless EGL prints "XDG_RUNTIME_DIR is invalid" to stderr when the variable is
/// unset; give it the temporary folder so users see only what matters.
fn quiet_egl() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
}

fn is_software(info: &wgpu::AdapterInfo) -> bool {
    let n = info.name.to_lowercase();
    info.device_type == wgpu::DeviceType::Cpu
        || n.contains("llvmpipe")
        || n.contains("lavapipe")
        || n.contains("swiftshader")
        || n.contains("softpipe")
        || n.contains("warp")
}

fn rank(info: &wgpu::AdapterInfo) -> u32 {
    if is_software(info) {
        // lavapipe (Vulkan) before llvmpipe (GL): more features, faster.
        return if info.backend == wgpu::Backend::Vulkan { 1 } else { 0 };
    }
    match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 5,
        wgpu::DeviceType::IntegratedGpu => 4,
        wgpu::DeviceType::VirtualGpu => 3,
        _ => 2,
    }
}

/// The backends `WGPU_BACKEND` names (a comma list; all when unset). A name wgpu does not
/// know is an error: wgpu itself would only skip it and then find no adapter.
fn backends() -> Result<wgpu::Backends> {
    let Ok(v) = std::env::var("WGPU_BACKEND") else {
        return Ok(wgpu::Backends::all());
    };
    for name in v.split(',') {
        let n = name.trim().to_lowercase();
        let known = [
            "vulkan", "vk", "dx12", "d3d12", "metal", "mtl", "opengl", "gles", "gl", "webgpu", "noop",
        ];
        if !known.contains(&n.as_str()) {
            bail!(
                "WGPU_BACKEND={v:?}: unknown backend {:?}; use vulkan, gl, metal or dx12 (a comma list works)",
                name.trim()
            );
        }
    }
    Ok(wgpu::Backends::from_comma_list(&v))
}

/// What to say on a software GL adapter (llvmpipe): the software Vulkan driver (lavapipe)
/// runs abprop several times faster (the README's quick start: 80 s against 6 min 21 s).
async fn gl_hint() -> String {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = wgpu::Backends::VULKAN;
    let lavapipe = wgpu::Instance::new(desc)
        .enumerate_adapters(wgpu::Backends::VULKAN)
        .await
        .iter()
        .any(|a| is_software(&a.get_info()));
    if lavapipe {
        "the Vulkan software driver (lavapipe) is installed and several times faster than GL here: \
         leave WGPU_BACKEND unset or set WGPU_BACKEND=vulkan"
            .to_string()
    } else {
        "the Vulkan software driver (lavapipe) is several times faster than GL here: \
         `apt-get install mesa-vulkan-drivers`"
            .to_string()
    }
}

impl Gpu {
    /// Picks an adapter: `WGPU_BACKEND` restricts the backends, `WGPU_ADAPTER_NAME` (a
    /// case-insensitive substring) picks by name; otherwise a hardware GPU is preferred and a
    /// software adapter is the fallback, announced once on stderr.
    pub fn new() -> Result<Gpu> {
        pollster::block_on(Self::new_async(None))
    }

    /// The `index`-th adapter in the order abprop prefers them (hardware first; the one
    /// [`Gpu::new`] takes is 0), among those WGPU_BACKEND and WGPU_ADAPTER_NAME allow. Two
    /// `Gpu`s on one index are two devices of one adapter.
    pub fn on_adapter(index: usize) -> Result<Gpu> {
        pollster::block_on(Self::new_async(Some(index)))
    }

    /// Every adapter wgpu can see with the current environment.
    pub fn adapters() -> Vec<wgpu::AdapterInfo> {
        quiet_egl();
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let backends = backends().unwrap_or(wgpu::Backends::all());
        pollster::block_on(instance.enumerate_adapters(backends))
            .iter()
            .map(|a| a.get_info())
            .collect()
    }

    /// The adapters WGPU_BACKEND and WGPU_ADAPTER_NAME allow, in the order abprop prefers them
    /// (an error naming what is there when there is none).
    async fn candidates(instance: &wgpu::Instance) -> Result<Vec<wgpu::Adapter>> {
        let backends = backends()?;
        let adapters = instance.enumerate_adapters(backends).await;
        let wanted = std::env::var("WGPU_ADAPTER_NAME").ok().map(|s| s.to_lowercase());
        let mut candidates: Vec<wgpu::Adapter> = adapters
            .into_iter()
            .filter(|a| {
                let info = a.get_info();
                wanted
                    .as_ref()
                    .is_none_or(|w| info.name.to_lowercase().contains(w.as_str()))
            })
            .collect();
        if candidates.is_empty() {
            if let Some(w) = wanted {
                let all: Vec<String> = Self::adapters()
                    .iter()
                    .map(|i| format!("{} ({:?})", i.name, i.backend))
                    .collect();
                bail!(
                    "no GPU adapter matches WGPU_ADAPTER_NAME={w:?}; adapters present: {}",
                    if all.is_empty() {
                        "none".to_string()
                    } else {
                        all.join(", ")
                    }
                );
            }
            bail!(
                "no GPU adapter found{}. Install a Vulkan, Metal, DX12 or GL driver; on a headless \
                 Debian/Ubuntu machine `apt-get install mesa-vulkan-drivers` gives the software \
                 Vulkan driver lavapipe (Mesa's llvmpipe GL driver also works: WGPU_BACKEND=gl)",
                std::env::var("WGPU_BACKEND")
                    .map(|b| format!(" for WGPU_BACKEND={b}"))
                    .unwrap_or_default()
            );
        }
        candidates.sort_by_key(|a| std::cmp::Reverse(rank(&a.get_info())));
        Ok(candidates)
    }

    /// How many adapters [`Gpu::on_adapter`] can open.
    pub fn adapter_count() -> usize {
        quiet_egl();
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        pollster::block_on(Self::candidates(&instance)).map_or(0, |c| c.len())
    }

    async fn new_async(index: Option<usize>) -> Result<Gpu> {
        quiet_egl();
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let mut candidates = Self::candidates(&instance).await?;
        let i = index.unwrap_or(0);
        if i >= candidates.len() {
            bail!(
                "no adapter {i}: {} adapter{} usable here (0 to {})",
                candidates.len(),
                if candidates.len() == 1 { " is" } else { "s are" },
                candidates.len() - 1
            );
        }
        let adapter = candidates.swap_remove(i);
        let info = adapter.get_info();
        if is_software(&info) {
            eprintln!(
                "abprop: no hardware GPU in use, running on the software adapter {} ({:?}); expect it to be slow",
                info.name, info.backend
            );
            if info.backend == wgpu::Backend::Gl {
                eprintln!("abprop: {}", gl_hint().await);
            }
        }
        let wanted_features = wgpu::Features::SUBGROUP | wgpu::Features::TIMESTAMP_QUERY;
        let features = adapter.features() & wanted_features;
        let lanes = (info.subgroup_min_size, info.subgroup_max_size);
        if is_software(&info) && features.contains(wgpu::Features::SUBGROUP) && lanes != (8, 8) {
            let width = if lanes.0 == lanes.1 {
                lanes.0.to_string()
            } else {
                format!("{}-{}", lanes.0, lanes.1)
            };
            eprintln!(
                "abprop: this software adapter's subgroups are {width} lanes wide, and the fast GEMM kernels need 8: \
                 with lavapipe, leave LP_NATIVE_VECTOR_WIDTH unset (or 256) for about 3x faster multiplies"
            );
        }
        let mut limits = wgpu::Limits::default();
        let alimits = adapter.limits();
        // Only what is checked for: never beyond the WebGPU defaults.
        if info.backend == wgpu::Backend::Gl {
            // GL's compute shaders see fewer storage buffers than WebGPU's default allows
            // only on some drivers; we never bind more than 8.
            limits.max_storage_buffers_per_shader_stage = limits
                .max_storage_buffers_per_shader_stage
                .min(alimits.max_storage_buffers_per_shader_stage);
        }
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("abprop"),
                required_features: features,
                required_limits: limits.clone(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .with_context(|| {
                format!(
                    "could not open the device on adapter {} ({:?})",
                    info.name, info.backend
                )
            })?;
        let lost = Arc::new(Mutex::new(None));
        let lost2 = lost.clone();
        device.set_device_lost_callback(move |reason, msg| {
            *lost2.lock().unwrap() = Some(format!("{reason:?}: {msg}"));
        });
        let uncaptured = Arc::new(Mutex::new(Vec::new()));
        let unc2 = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            unc2.lock().unwrap().push(e.to_string());
        }));
        let slots = match std::env::var("ABPROP_SLOTS") {
            Ok(v) => match v.trim().parse::<u32>() {
                Ok(n) if (1..=64).contains(&n) => n,
                _ => bail!("ABPROP_SLOTS={v:?}: expected a whole number from 1 to 64"),
            },
            Err(_) => {
                if is_software(&info) {
                    8
                } else {
                    1
                }
            }
        };
        Ok(Gpu {
            device,
            queue,
            subgroup_size: (info.subgroup_min_size, info.subgroup_max_size),
            info,
            features,
            limits,
            pipelines: Mutex::new(HashMap::new()),
            modules: Mutex::new(HashMap::new()),
            lost,
            uncaptured,
            slots,
            submits: Default::default(),
            readbacks: Default::default(),
            choices: Default::default(),
        })
    }

    pub fn choice(&self) -> AdapterChoice {
        AdapterChoice {
            name: self.info.name.clone(),
            backend: format!("{:?}", self.info.backend),
            device_type: format!("{:?}", self.info.device_type),
            driver: format!("{} {}", self.info.driver, self.info.driver_info)
                .trim()
                .to_string(),
            software: self.is_software(),
        }
    }

    pub fn is_software(&self) -> bool {
        is_software(&self.info)
    }

    /// Whether the 8-lane subgroup kernels can run: subgroups present and exactly 8 lanes wide.
    pub fn has_lanes8(&self) -> bool {
        self.has_subgroups() && self.subgroup_size == (8, 8)
    }

    /// The one gate of the software-adapter paths (src/ops/gemm/lanes8.rs,
    /// src/ops/conv_transpose/lanes8.rs): a software adapter (lavapipe) whose subgroups are 8
    /// lanes wide, one SIMD vector of the CPU. Hardware GPUs never take those paths.
    pub fn software_lanes8(&self) -> bool {
        self.is_software() && self.has_lanes8()
    }

    /// The choice a tuning step made for `key` (see [`Choices`]); while tuning is on, a key
    /// without one is recorded for the next step.
    pub fn chosen(&self, key: &str) -> Option<String> {
        let mut c = self.choices.lock().unwrap_or_else(|e| e.into_inner());
        if !c.active {
            return None;
        }
        let made = c.made.get(key).cloned();
        if made.is_none() {
            c.missed.insert(key.to_string());
        }
        made
    }

    /// True when subgroup operations can be used (feature present, size known).
    pub fn has_subgroups(&self) -> bool {
        self.features.contains(wgpu::Features::SUBGROUP) && self.subgroup_size.0 >= 4
    }

    pub fn has_timestamps(&self) -> bool {
        self.features.contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// An error if the device was lost or an error escaped every error scope.
    pub fn check(&self) -> Result<()> {
        if let Some(l) = self.lost.lock().unwrap().clone() {
            return Err(anyhow!("the GPU device was lost: {l}"));
        }
        let mut u = self.uncaptured.lock().unwrap();
        if !u.is_empty() {
            let all = u.join("; ");
            u.clear();
            return Err(anyhow!("GPU error: {all}"));
        }
        Ok(())
    }

    /// Blocks until all submitted work is done.
    pub fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| anyhow!("waiting for the GPU failed: {e}"))?;
        self.check()
    }
}
