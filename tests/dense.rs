//! Dense layers against their CPU twin with every GEMM kernel this adapter supports; the twin's
//! gradients against central finite differences.
mod common;
use abprop::ops::dense::{self, cpu, DenseShape};
use abprop::ops::gemm::Kernel;
use common::*;

#[test]
fn gpu_matches_cpu_every_kernel() {
    let g = gpu();
    let mut kernels: Vec<Option<Kernel>> = Kernel::available(g).into_iter().map(Some).collect();
    kernels.push(None);
    for (i, &(batch, d_in, d_out)) in [(1, 1, 1), (3, 7, 5), (64, 100, 67), (5, 130, 257), (100, 33, 9)]
        .iter()
        .enumerate()
    {
        let s = DenseShape { batch, d_in, d_out };
        let mut r = rng(i as u64);
        let x = uniform(&mut r, batch * d_in, -1.0, 1.0);
        let w = uniform(&mut r, d_out * d_in, -1.0, 1.0);
        let b = uniform(&mut r, d_out, -1.0, 1.0);
        let dy = uniform(&mut r, batch * d_out, -1.0, 1.0);
        let tx = g.upload("x", &[batch, d_in], &x).unwrap();
        let tw = g.upload("w", &[d_out, d_in], &w).unwrap();
        let tb = g.upload("b", &[d_out], &b).unwrap();
        let tdy = g.upload("dy", &[batch, d_out], &dy).unwrap();
        for &k in &kernels {
            let ty = g.upload("y", &[batch, d_out], &vec![f32::NAN; batch * d_out]).unwrap();
            let tdx = g.upload("dx", &[batch, d_in], &vec![f32::NAN; batch * d_in]).unwrap();
            let tdw = g.upload("dw", &[d_out, d_in], &vec![f32::NAN; d_out * d_in]).unwrap();
            let tdb = g.upload("db", &[d_out], &vec![f32::NAN; d_out]).unwrap();
            let f = dense::forward_with(g, k, &s, &tx, &tw, &tb, &ty).unwrap();
            let bi = dense::backward_input_with(g, k, &s, &tdy, &tw, &tdx).unwrap();
            let bw = dense::backward_weights_with(g, k, &s, &tx, &tdy, &tdw, &tdb).unwrap();
            let mut seq = f.seq();
            seq.extend(bi.seq());
            seq.extend(bw.seq());
            g.run(&seq).unwrap();
            // Relative tolerance 1e-5 of the reference's scale (f32 sums of up to 257 products).
            let what = format!("{s:?} {k:?}");
            let y = cpu::forward(&s, &x, &w, &b);
            assert_close(&format!("forward {what}"), &g.read::<f32>(&ty).unwrap(), &y, 1e-5, 1e-6);
            let dx = cpu::backward_input(&s, &dy, &w);
            assert_close(
                &format!("backward_input {what}"),
                &g.read::<f32>(&tdx).unwrap(),
                &dx,
                1e-5,
                1e-6,
            );
            let (dw, db) = cpu::backward_weights(&s, &x, &dy);
            assert_close(&format!("dw {what}"), &g.read::<f32>(&tdw).unwrap(), &dw, 1e-5, 1e-6);
            assert_close(&format!("db {what}"), &g.read::<f32>(&tdb).unwrap(), &db, 1e-5, 1e-6);
        }
    }
}

#[test]
fn cpu_gradients_match_finite_differences() {
    let s = DenseShape {
        batch: 3,
        d_in: 5,
        d_out: 4,
    };
    let mut rg = rng(21);
    let f64s = |v: Vec<f32>| v.into_iter().map(|a| a as f64).collect::<Vec<f64>>();
    let f32s = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
    let x = f64s(uniform(&mut rg, 15, -1.0, 1.0));
    let w = f64s(uniform(&mut rg, 20, -1.0, 1.0));
    let b = f64s(uniform(&mut rg, 4, -1.0, 1.0));
    let r = uniform(&mut rg, 12, -1.0, 1.0);
    let loss = |x: &[f64], w: &[f64], b: &[f64]| -> f64 {
        let y = cpu::forward(&s, &f32s(x), &f32s(w), &f32s(b));
        y.iter().zip(&r).map(|(&a, &c)| a as f64 * c as f64).sum()
    };
    let dx = cpu::backward_input(&s, &r, &f32s(&w));
    let (dw, db) = cpu::backward_weights(&s, &f32s(&x), &r);
    let h = 0.25; // L is linear in each argument
    let ok = |what: &str, num: f64, ana: f32| {
        assert!(
            (num - ana as f64).abs() <= 1e-4 * (1.0 + num.abs()),
            "{what}: fd {num} vs {ana}"
        )
    };
    for (i, &g) in dx.iter().enumerate() {
        ok("dx", fd(&mut |v| loss(v, &w, &b), &x, i, h), g);
    }
    for (i, &g) in dw.iter().enumerate() {
        ok("dw", fd(&mut |v| loss(&x, v, &b), &w, i, h), g);
    }
    for (i, &g) in db.iter().enumerate() {
        ok("db", fd(&mut |v| loss(&x, &w, v), &b, i, h), g);
    }
}
