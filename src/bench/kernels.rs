//! `abprop bench kernels`: each kernel timed alone at the paper networks' layer shapes, with
//! GPU timestamps where the adapter has them (the wall clock where not), beside a plain SGEMM
//! of 1024^3 as the yardstick.

use crate::gpu::{Gpu, Op, Timer};
use crate::model::{generator::conv_shapes, presets};
use crate::ops::activation::{self, Activation};
use crate::ops::batch_norm::{self, BnShape};
use crate::ops::conv;
use crate::ops::conv_transpose::{self, ConvShape};
use crate::ops::dense::{self, DenseShape};
use crate::ops::{copy, gemm, langevin, loss, optim, philox};
use crate::seed::{Seed, Stream};
use anyhow::Result;
use rand::Rng;
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub kernel: String,
    pub shape: String,
    pub ms: f64,
    pub gflops: f64,
    pub gbps: f64,
    /// The rate of this row's yardstick, timed in turns with the row's own batches so that a
    /// drift of a shared machine during the run moves both alike: `sgemm` GFLOP/s for the
    /// GEMM-class rows, `copy` GB/s at the same shape for the elementwise rows; absent for the
    /// yardsticks themselves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub yardstick: Option<f64>,
}

impl Row {
    /// This row's rate as a share of its yardstick (GFLOP/s for GEMM-class rows, else GB/s).
    pub fn share(&self) -> Option<f64> {
        let y = self.yardstick.filter(|y| *y > 0.0)?;
        Some(
            if gemm_class(&self.kernel) {
                self.gflops
            } else {
                self.gbps
            } / y,
        )
    }
}

/// Whether a kernel is measured against the SGEMM yardstick (else against copy).
pub(super) fn gemm_class(kernel: &str) -> bool {
    kernel.starts_with("conv_transpose") || kernel.starts_with("conv2d") || kernel.starts_with("dense")
}

/// A named layer shape of one of the paper's networks.
pub struct ConvCase {
    pub net: &'static str,
    pub layer: usize,
    pub shape: ConvShape,
}

/// The transposed convolutions of the paper's texture (batch 1), object (batch 64) and sound
/// (batch 1) networks, as `model::presets` defines them.
pub fn paper_conv_cases() -> Result<Vec<ConvCase>> {
    let nets = [
        ("texture", presets::texture_net(3), 1),
        ("object", presets::object_net(100, 3), 64),
        ("sound", presets::sound_net(), 1),
    ];
    let mut v = Vec::new();
    for (net, spec, batch) in nets {
        for (i, shape) in conv_shapes(&spec, batch)?.into_iter().enumerate() {
            v.push(ConvCase {
                net,
                layer: i + 1,
                shape,
            });
        }
    }
    Ok(v)
}

/// The convolutions of the bottom-up encoder of the IABP/HiABP models on MNIST (batch 64):
/// [1, 28, 28] -> 32 channels -> 64 channels, kernel 4, stride 2, padding 1.
pub fn encoder_conv_cases() -> Vec<(&'static str, conv::ConvShape)> {
    vec![
        ("encoder L1", conv::ConvShape::conv2d(64, 1, 32, 28, 28, 4, 2, 1)),
        ("encoder L2", conv::ConvShape::conv2d(64, 32, 64, 14, 14, 4, 2, 1)),
    ]
}

fn strided_desc(s: &conv::ConvShape) -> String {
    format!(
        "n{} {}->{} {}x{}->{}x{} k{} s{}",
        s.batch,
        s.c_in,
        s.c_out,
        s.h_in,
        s.w_in,
        s.h_out(),
        s.w_out(),
        s.kw,
        s.sw
    )
}

pub(super) fn random(
    gpu: &Gpu,
    label: &str,
    shape: &[usize],
    rng: &mut rand::rngs::StdRng,
) -> Result<crate::gpu::Tensor> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    gpu.upload(label, shape, &v)
}

fn conv_desc(s: &ConvShape) -> String {
    if s.kh == 1 && s.h_in == 1 {
        format!(
            "n{} {}->{} len {}->{} k{} s{}",
            s.batch,
            s.c_in,
            s.c_out,
            s.w_in,
            s.w_out(),
            s.kw,
            s.sw
        )
    } else {
        format!(
            "n{} {}->{} {}x{}->{}x{} k{} s{}",
            s.batch,
            s.c_in,
            s.c_out,
            s.h_in,
            s.w_in,
            s.h_out(),
            s.w_out(),
            s.kw,
            s.sw
        )
    }
}

/// An op made ready to time: its preparation (packing the weights, `Op::prep`) has run once
/// and is not timed, since training runs it once per weight update, not once per Langevin step;
/// `reps` repetitions make a batch of about 60 ms.
struct Timed<'a> {
    seq: Vec<&'a crate::gpu::Dispatch>,
    reps: u32,
}

impl<'a> Timed<'a> {
    fn new(gpu: &Gpu, timer: &Timer, op: &'a Op) -> Result<Self> {
        if !op.prep.is_empty() {
            gpu.run(&op.prep.iter().collect::<Vec<_>>())?;
        }
        let seq = op.main_seq();
        let once = timer.time(gpu, &seq, 1)?;
        let reps = ((0.06 / once.max(1e-6)) as u32).clamp(1, 40);
        Ok(Timed { seq, reps })
    }
    /// Seconds per repetition over one batch.
    fn batch(&self, gpu: &Gpu, timer: &Timer) -> Result<f64> {
        timer.time(gpu, &self.seq, self.reps)
    }
}

/// The number of batches of each op; the median batch is reported, so a passing slowdown of a
/// shared machine moves the figure less than a mean would.
const BATCHES: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn row(kernel: &str, shape: String, op: &Op, s: f64) -> Row {
    Row {
        kernel: kernel.to_string(),
        shape,
        ms: s * 1e3,
        gflops: op.flops() / s * 1e-9,
        gbps: op.bytes() / s * 1e-9,
        yardstick: None,
    }
}

/// Times one op: the median of five batches of repetitions (about 0.3 s in all).
fn time(gpu: &Gpu, timer: &Timer, kernel: &str, shape: String, op: &Op) -> Result<Row> {
    let t = Timed::new(gpu, timer, op)?;
    let b = (0..BATCHES).map(|_| t.batch(gpu, timer)).collect::<Result<Vec<_>>>()?;
    Ok(row(kernel, shape, op, median(b)))
}

/// `time`, with each batch of `op` right after a batch of its yardstick `yard` (SGEMM for
/// GEMM-class kernels, copy for the others): a shared machine's drift during the run moves
/// both figures alike. The row's `yardstick` is the median of the yardstick's batches.
fn time_against(gpu: &Gpu, timer: &Timer, kernel: &str, shape: String, op: &Op, yard: &Op) -> Result<Row> {
    let (ty, t) = (Timed::new(gpu, timer, yard)?, Timed::new(gpu, timer, op)?);
    let (mut yb, mut b) = (Vec::new(), Vec::new());
    for _ in 0..BATCHES {
        yb.push(ty.batch(gpu, timer)?);
        b.push(t.batch(gpu, timer)?);
    }
    let y = median(yb);
    let rate = if gemm_class(kernel) { yard.flops() } else { yard.bytes() } / y * 1e-9;
    Ok(Row {
        yardstick: Some(rate),
        ..row(kernel, shape, op, median(b))
    })
}

/// Runs every benchmark whose kernel name contains `filter` (all when empty); `each` sees each
/// row as soon as it is measured.
pub fn kernels(gpu: &Gpu, filter: &str, mut each: impl FnMut(&Row)) -> Result<Vec<Row>> {
    let timer = Timer::new(gpu);
    let mut rng = Seed(7).rng(Stream::BenchData);
    let mut rows = Vec::new();
    let mut push = |r: Row, rows: &mut Vec<Row>| {
        each(&r);
        rows.push(r);
    };
    let want = |k: &str| filter.is_empty() || k.contains(filter);

    // The SGEMM yardstick: a row of its own, and timed again in turns with each GEMM-class row
    // (their share is against that figure).
    let sgemm_shape = "1024x1024x1024";
    let sgemm = {
        let n = 1024;
        let a = random(gpu, "a", &[n, n], &mut rng)?;
        let b = random(gpu, "b", &[n, n], &mut rng)?;
        let c = gpu.zeros("c", &[n, n])?;
        gemm::sgemm(gpu, &a, &b, &c, n, n, n)?
    };
    if want("sgemm") {
        push(time(gpu, &timer, "sgemm", sgemm_shape.into(), &sgemm)?, &mut rows);
    }
    for case in paper_conv_cases()? {
        let s = case.shape;
        let names = [
            "conv_transpose_forward",
            "conv_transpose_backward_input",
            "conv_transpose_backward_weights",
        ];
        if !names.iter().any(|k| want(k)) {
            continue;
        }
        let x = random(gpu, "x", &[s.batch, s.c_in, s.h_in, s.w_in], &mut rng)?;
        let w = random(gpu, "w", &[s.c_in, s.c_out, s.kh, s.kw], &mut rng)?;
        let b = random(gpu, "b", &[s.c_out], &mut rng)?;
        let y = random(gpu, "y", &[s.batch, s.c_out, s.h_out(), s.w_out()], &mut rng)?;
        let dx = gpu.zeros("dx", &x.shape)?;
        let dw = gpu.zeros("dw", &w.shape)?;
        let db = gpu.zeros("db", &b.shape)?;
        let shape = format!("{} L{} {}", case.net, case.layer, conv_desc(&s));
        let ops = [
            conv_transpose::forward(gpu, &s, &x, &w, &b, &y)?,
            conv_transpose::backward_input(gpu, &s, &y, &w, &dx)?,
            conv_transpose::backward_weights(gpu, &s, &x, &y, &dw, &db)?,
        ];
        for (name, op) in names.iter().zip(&ops) {
            if want(name) {
                push(time_against(gpu, &timer, name, shape.clone(), op, &sgemm)?, &mut rows);
            }
        }
    }
    for (layer, s) in encoder_conv_cases() {
        let names = ["conv2d_forward", "conv2d_backward_input", "conv2d_backward_weights"];
        if !names.iter().any(|k| want(k)) {
            break;
        }
        let x = random(gpu, "x", &[s.batch, s.c_in, s.h_in, s.w_in], &mut rng)?;
        let w = random(gpu, "w", &[s.c_out, s.c_in, s.kh, s.kw], &mut rng)?;
        let b = random(gpu, "b", &[s.c_out], &mut rng)?;
        let y = random(gpu, "y", &[s.batch, s.c_out, s.h_out(), s.w_out()], &mut rng)?;
        let dx = gpu.zeros("dx", &x.shape)?;
        let dw = gpu.zeros("dw", &w.shape)?;
        let db = gpu.zeros("db", &b.shape)?;
        let shape = format!("{layer} {}", strided_desc(&s));
        let ops = [
            conv::forward(gpu, &s, &x, &w, &b, &y)?,
            conv::backward_input(gpu, &s, &y, &w, &dx)?,
            conv::backward_weights(gpu, &s, &x, &y, &dw, &db)?,
        ];
        for (name, op) in names.iter().zip(&ops) {
            if want(name) {
                push(time_against(gpu, &timer, name, shape.clone(), op, &sgemm)?, &mut rows);
            }
        }
    }
    if want("dense") {
        let s = DenseShape {
            batch: 64,
            d_in: 100,
            d_out: 8192,
        };
        let x = random(gpu, "x", &[s.batch, s.d_in], &mut rng)?;
        let w = random(gpu, "w", &[s.d_out, s.d_in], &mut rng)?;
        let b = random(gpu, "b", &[s.d_out], &mut rng)?;
        let y = gpu.zeros("y", &[s.batch, s.d_out])?;
        let dx = gpu.zeros("dx", &x.shape)?;
        let dw = gpu.zeros("dw", &w.shape)?;
        let db = gpu.zeros("db", &b.shape)?;
        let shape = "object fc n64 100->8192".to_string();
        let ops = [
            ("dense_forward", dense::forward(gpu, &s, &x, &w, &b, &y)?),
            ("dense_backward_input", dense::backward_input(gpu, &s, &y, &w, &dx)?),
            (
                "dense_backward_weights",
                dense::backward_weights(gpu, &s, &x, &y, &dw, &db)?,
            ),
        ];
        for (name, op) in &ops {
            push(time_against(gpu, &timer, name, shape.clone(), op, &sgemm)?, &mut rows);
        }
    }
    // Elementwise and normalization kernels at the texture net's 128->64 layer output (batch 1)
    // and the object net's 64-channel layer (batch 64).
    let bn_cases = [
        (
            "texture L4",
            BnShape {
                batch: 1,
                channels: 64,
                spatial: 112 * 112,
            },
        ),
        (
            "object L3",
            BnShape {
                batch: 64,
                channels: 64,
                spatial: 32 * 32,
            },
        ),
    ];
    let elementwise = [
        "copy",
        "batch_norm",
        "activation",
        "residual",
        "philox_normal",
        "langevin",
        "sgd",
    ];
    for (net, s) in bn_cases {
        if !elementwise.iter().any(|k| want(k)) {
            break;
        }
        let n = s.batch * s.channels * s.spatial;
        let shape = format!("{net} n{} c{} {}", s.batch, s.channels, s.spatial);
        let x = random(gpu, "x", &[n], &mut rng)?;
        let y = gpu.zeros("y", &[n])?;
        let dy = random(gpu, "dy", &[n], &mut rng)?;
        let dx = gpu.zeros("dx", &[n])?;
        // The yardstick of the elementwise rows: what plain vec4 loads and stores reach.
        let copy_op = Op::from(copy::copy(gpu, &x, &y)?);
        if want("copy") {
            push(time(gpu, &timer, "copy", shape.clone(), &copy_op)?, &mut rows);
        }
        let timed = |kernel: &str, op: &Op| time_against(gpu, &timer, kernel, shape.clone(), op, &copy_op);
        if want("batch_norm") {
            let gamma = random(gpu, "gamma", &[s.channels], &mut rng)?;
            let beta = random(gpu, "beta", &[s.channels], &mut rng)?;
            let stats = gpu.zeros("stats", &[2, s.channels])?;
            let dg = gpu.zeros("dg", &[s.channels])?;
            let dbeta = gpu.zeros("dbeta", &[s.channels])?;
            let f = batch_norm::forward(gpu, &s, 1e-4, &x, &gamma, &beta, &y, &stats)?;
            push(timed("batch_norm_forward", &f)?, &mut rows);
            let b = batch_norm::backward(gpu, &s, &x, &gamma, &stats, &dy, &dx, &dg, &dbeta)?;
            push(timed("batch_norm_backward", &b)?, &mut rows);
        }
        if want("activation") {
            let act = Activation::LeakyRelu { slope: 0.2 };
            let f = Op::from(activation::forward(gpu, act, &x, &y)?);
            push(timed("activation_forward", &f)?, &mut rows);
            let b = Op::from(activation::backward(gpu, act, &y, &dy, &dx)?);
            push(timed("activation_backward", &b)?, &mut rows);
        }
        if want("residual") {
            let per = s.channels * s.spatial;
            let sse = gpu.zeros("sse", &[s.batch])?;
            let op = loss::residual(gpu, s.batch, per, &x, &y, None, 0.3, &dx, &sse)?;
            push(timed("residual", &op)?, &mut rows);
        }
        if want("philox_normal") {
            let op = philox::normal(gpu, &y, Seed(1).key(Stream::Langevin), 0)?;
            push(timed("philox_normal", &op)?, &mut rows);
        }
        if want("langevin") {
            let step = gpu.upload::<u32>("step", &[1], &[0])?;
            let key = Seed(1).key(Stream::Langevin);
            let op = langevin::update(gpu, n, &y, &dy, &step, 0.1, true, key, 0)?;
            push(timed("langevin", &op)?, &mut rows);
            // Without the noise (gradient descent, Algorithm 2 of the paper): the memory-bound
            // part alone; the difference is the cost of Philox4x32-10 and Box-Muller.
            let op = langevin::update(gpu, n, &y, &dy, &step, 0.1, false, key, 0)?;
            push(timed("langevin_no_noise", &op)?, &mut rows);
        }
        if want("sgd") {
            let opt = optim::Optimizer::Sgd {
                lr: 1e-4,
                momentum: 0.5,
                weight_decay: 0.0,
            };
            let state = optim::OptimState::new(gpu, &opt, n)?;
            let op = optim::step(gpu, &opt, optim::Clip::Value(30.0), -1.0, &y, &dy, &state)?;
            push(timed("sgd", &op)?, &mut rows);
        }
    }
    Ok(rows)
}

/// The rows as an aligned text table. The last column is each row's rate as a share of its
/// yardstick ([`Row::yardstick`]).
pub fn table(rows: &[Row]) -> String {
    let mut s = format!(
        "{:<32} {:<44} {:>10} {:>9} {:>8} {:>12}\n",
        "kernel", "shape", "ms", "GFLOP/s", "GB/s", "of yardstick"
    );
    for r in rows {
        let share = r.share().map(|v| format!("{:.0}%", 100.0 * v)).unwrap_or_default();
        let line = format!(
            "{:<32} {:<44} {:>10.3} {:>9.1} {:>8.2} {:>12}",
            r.kernel, r.shape, r.ms, r.gflops, r.gbps, share
        );
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kernel: &str, gflops: f64, gbps: f64, yardstick: Option<f64>) -> Row {
        Row {
            kernel: kernel.into(),
            shape: "s".into(),
            ms: 1.0,
            gflops,
            gbps,
            yardstick,
        }
    }

    #[test]
    fn paper_cases_are_the_presets_layers() {
        let c = paper_conv_cases().unwrap();
        let names: Vec<String> = c
            .iter()
            .map(|c| format!("{} L{} {}", c.net, c.layer, conv_desc(&c.shape)))
            .collect();
        assert_eq!(names.len(), 13, "{names:?}");
        assert_eq!(names[0], "texture L1 n1 1->512 7x7->14x14 k5 s2");
        assert_eq!(names[4], "texture L5 n1 64->3 112x112->224x224 k5 s2");
        assert_eq!(names[5], "object L1 n64 512->256 4x4->8x8 k5 s2");
        assert_eq!(names[12], "sound L4 n1 64->1 len 6000->60000 k25 s10");
        let e: Vec<String> = encoder_conv_cases()
            .iter()
            .map(|(l, s)| format!("{l} {}", strided_desc(s)))
            .collect();
        assert_eq!(
            e,
            [
                "encoder L1 n64 1->32 28x28->14x14 k4 s2",
                "encoder L2 n64 32->64 14x14->7x7 k4 s2"
            ]
        );
    }

    #[test]
    fn shares_use_the_right_rate() {
        // GEMM-class rows compare GFLOP/s with sgemm's, the others GB/s with copy's.
        assert_eq!(row("conv_transpose_forward", 30.0, 1.0, Some(40.0)).share(), Some(0.75));
        assert_eq!(row("dense_forward", 10.0, 1.0, Some(40.0)).share(), Some(0.25));
        assert_eq!(row("conv2d_backward_input", 20.0, 1.0, Some(40.0)).share(), Some(0.5));
        assert_eq!(row("activation_forward", 1.0, 3.0, Some(4.0)).share(), Some(0.75));
        assert_eq!(row("sgemm", 50.0, 1.0, None).share(), None);
        assert_eq!(row("residual", 1.0, 3.0, Some(0.0)).share(), None);
        let t = table(&[
            row("sgemm", 50.0, 1.0, None),
            row("conv_transpose_forward", 30.0, 1.0, Some(40.0)),
        ]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].ends_with("of yardstick"), "{t}");
        assert!(lines[1].starts_with("sgemm") && !lines[1].ends_with('%'), "{t}");
        assert!(lines[2].ends_with(" 75%"), "{t}");
    }
}
