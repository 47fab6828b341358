"""Tests of the MLP lab core (``adamem_core.mlp``): datasets, models, limits, and ``train``."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from adamem_core.mlp import (
    DATASETS, LIMITS, SWEEP_LIMITS, Dataset, RunRecord, StepTiming, SweepLimits, batch_indices,
    build_mlp, calibrate, clamp_config, clamp_sweep, estimate_seconds, make_dataset,
    pick_device, runs_to_dataframe, sweep, train,
)
from adamem_core.optim import OPTIMIZERS
from adamem_core.specs import OptimizerSpec

pytestmark = pytest.mark.numerical   # rerun by scripts/test.sh with NumPy's dispatch limited

LR = {"sgd": 0.3, "adamw": 0.02}      # a sensible step size per family on standardised moons


def spec_for(name: str, **hyper) -> OptimizerSpec:
    return OptimizerSpec(name, LR[OPTIMIZERS[name].family], **hyper)


@pytest.fixture(scope="module")
def moons() -> Dataset:
    return make_dataset("moons", n=200, noise=0.15, seed=0)


@pytest.fixture(scope="module")
def all_runs(moons) -> list[RunRecord]:
    """Every registered optimizer, 200 full-batch steps, one train() call."""
    specs = [spec_for(n) for n in OPTIMIZERS]
    # (no server limits: they extrapolate steps timed on this machine, which load may slow)
    return train(moons, (16,), "tanh", specs, 200, seed=0, device="cpu", enforce_limits=False)


def assert_runs_equal(a: RunRecord, b: RunRecord) -> None:
    for f in ("loss", "train_acc", "test_acc", "grad_norm", "beta", "model_beta",
              "effective_momentum"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    assert a.diverged_at == b.diverged_at


# ============================================================================= datasets
@pytest.mark.parametrize("name", list(DATASETS))
def test_dataset_shapes_and_standardisation(name):
    info = DATASETS[name]
    n = 300 if name != "digits" else 400
    ds = make_dataset(name, n=n, seed=3)
    assert ds.n_train + ds.n_test == n
    assert ds.n_test == pytest.approx(0.25 * n, abs=1)
    assert ds.X_train.shape == (ds.n_train, info.n_features) == (ds.n_train, ds.n_features)
    assert ds.X_test.shape == (ds.n_test, ds.n_features)
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.is_2d == info.is_2d and ds.n_classes == info.n_classes
    assert set(np.unique(ds.y_train)) == set(range(ds.n_classes))
    np.testing.assert_allclose(ds.X_train.mean(axis=0), 0.0, atol=1e-5)
    sd = ds.X_train.std(axis=0)
    const = sd == 0                       # digits' blank border pixels: left at 0, not NaN
    assert const.sum() < ds.n_features and np.all(ds.X_train[:, const] == 0)
    np.testing.assert_allclose(sd[~const], 1.0, rtol=1e-4)
    # standardisation fitted on the training part only: the test part is not exactly 0/1
    assert np.abs(ds.X_test.mean(axis=0)).max() > 1e-4
    np.testing.assert_allclose(ds.to_standard(ds.to_original(ds.X_test)), ds.X_test, atol=1e-5)
    with pytest.raises(ValueError):
        ds.X_train[0, 0] = 1.0                              # read-only: safe to cache/share


def test_dataset_split_is_seeded():
    a, b = make_dataset("spiral", n=200, seed=5), make_dataset("spiral", n=200, seed=5)
    c = make_dataset("spiral", n=200, seed=6)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.X_train, c.X_train)
    # the split itself depends on the seed (digits' pool is fixed, so only the split varies)
    d1, d2 = make_dataset("digits", seed=0), make_dataset("digits", seed=1)
    assert not np.array_equal(d1.y_test, d2.y_test)


def test_digits_and_2d_metadata():
    d = make_dataset("digits")
    assert (d.n_features, d.n_classes, d.is_2d) == (64, 10, False)
    assert d.n_train + d.n_test == 1797
    assert d.images_test.shape == (d.n_test, 8, 8)
    np.testing.assert_allclose(d.images_test.reshape(d.n_test, 64),
                               d.to_original(d.X_test), atol=1e-3)
    assert d.bounds is None
    for name in ("spiral", "xor"):
        ds = make_dataset(name, n=100)
        assert (ds.n_features, ds.n_classes, ds.is_2d) == (2, 2, True)
        assert np.bincount(ds.y_train).min() > 20              # both classes present
    blobs = make_dataset("blobs", n=200, n_classes=5)
    assert blobs.n_classes == 5 and set(np.unique(blobs.y_train)) == set(range(5))


def test_dataset_noise_changes_points():
    a = make_dataset("xor", n=200, noise=0.0, seed=1)
    b = make_dataset("xor", n=200, noise=0.3, seed=1)
    assert not np.allclose(a.to_original(a.X_train), b.to_original(b.X_train))
    # noiseless XOR: the label is the XOR of the signs
    X = a.to_original(a.X_train)
    np.testing.assert_array_equal(a.y_train, (X[:, 0] * X[:, 1] < 0).astype(int))


@pytest.mark.parametrize("kwargs, field", [
    (dict(name="moons", n=5), "n"),
    (dict(name="moons", n=10**6), "n"),
    (dict(name="moons", n=100.5), "n"),
    (dict(name="moons", noise=-0.1), "noise"),
    (dict(name="circles", noise=float("nan")), "noise"),
    (dict(name="moons", test_fraction=0.9), "test_fraction"),
    (dict(name="moons", seed=-1), "seed"),
    (dict(name="moons", n_classes=3), "n_classes"),
    (dict(name="blobs", n_classes=9), "n_classes"),
    (dict(name="mnist"), "name"),
])
def test_dataset_validation_names_the_parameter(kwargs, field):
    with pytest.raises(ValueError, match=rf"\b{field}\b"):
        make_dataset(**kwargs)


def test_grid_covers_the_data_in_original_units(moons):
    gx, gy, pts = moons.grid(30)
    assert gx.shape == gy.shape == (30,) and pts.shape == (900, 2)
    raw = moons.to_original(np.vstack([moons.X_train, moons.X_test]))
    assert gx[0] < raw[:, 0].min() and gx[-1] > raw[:, 0].max()
    assert gy[0] < raw[:, 1].min() and gy[-1] > raw[:, 1].max()
    # row-major: point k = (gx[k % 30], gy[k // 30])
    np.testing.assert_allclose(moons.to_original(pts[31]), [gx[1], gy[1]], rtol=1e-5)
    with pytest.raises(ValueError, match="2-D"):
        make_dataset("digits", n=100).grid(10)


# ============================================================================= models
def test_build_mlp_structure_and_seed():
    m = build_mlp(2, (8, 16), 3, "gelu", seed=4)
    names = [n for n, _ in m.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    assert isinstance(m[1], torch.nn.GELU)
    assert m(torch.zeros(5, 2)).shape == (5, 3)
    state = torch.random.get_rng_state()
    a, b, c = (build_mlp(2, (8, 16), 3, "gelu", seed=s) for s in (4, 4, 5))
    assert torch.equal(torch.random.get_rng_state(), state)     # global RNG untouched
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert not torch.equal(a[0].weight, c[0].weight)


@pytest.mark.parametrize("args, field", [
    (dict(hidden=(200,)), r"hidden\[0\]"),
    (dict(hidden=(8, 2)), r"hidden\[1\]"),
    (dict(hidden=(8, 8, 8, 8)), "hidden"),
    (dict(hidden=()), "hidden"),
    (dict(activation="sigmoid"), "activation"),
    (dict(n_in=0), "n_in"),
    (dict(n_out=1), "n_out"),
])
def test_build_mlp_validation_names_the_field(args, field):
    kw = dict(n_in=2, hidden=(8,), n_out=2, activation="tanh", seed=0) | args
    with pytest.raises(ValueError, match=field):
        build_mlp(**kw)


def test_pick_device():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device"):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            pick_device("cuda")


# ============================================================================= limits
def test_clamp_config_clamps_with_notices(moons):
    specs = [spec_for("am_sgd")] * 10
    cfg, notes = clamp_config(moons, (500, 2, 8, 8, 8), specs, 100_000, batch_size=10_000,
                              boundary_every=1, grid=500)
    text = "\n".join(notes)
    assert cfg.hidden == (LIMITS.max_width, LIMITS.min_width, 8)
    assert len(cfg.specs) == LIMITS.max_specs
    assert cfg.steps <= LIMITS.max_steps
    assert "steps reduced from 100000 to" in text
    assert "under 10 s" in text
    assert "width of hidden layer 1 reduced from 500 to 128" in text
    assert "hidden layers reduced from 5 to 3" in text
    assert cfg.batch_size is None and "full batch" in text
    assert cfg.grid == LIMITS.max_grid
    assert cfg.steps / cfg.boundary_every <= LIMITS.max_snapshots
    assert cfg.estimated_seconds <= LIMITS.time_budget_s * 1.05
    # a request inside the limits is left alone, without notices
    cfg2, notes2 = clamp_config(moons, (16,), [spec_for("am_sgd")], 200)
    assert notes2 == [] and cfg2.steps == 200 and cfg2.hidden == (16,)


@pytest.mark.parametrize("kw, field", [
    (dict(steps=0), "steps"), (dict(steps=2.5), "steps"), (dict(batch_size=0), "batch_size"),
    (dict(record_every=0), "record_every"), (dict(specs=[]), "specs"),
    (dict(specs=["am_sgd"]), r"specs\[0\]"), (dict(hidden=()), "hidden"),
    (dict(boundary_every=0), "boundary_every"),
])
def test_train_validation_names_the_parameter(moons, kw, field):
    args = dict(hidden=(8,), activation="tanh", specs=[spec_for("sgd")], steps=5) | kw
    with pytest.raises(ValueError, match=field):
        train(moons, **args)


def test_train_enforces_the_limits_server_side(moons):
    runs = train(moons, (8,), "tanh", [spec_for("sgd")] * 9, 10**7,
                 should_stop=lambda: True)                 # stop at once: check the config only
    assert len(runs) == LIMITS.max_specs
    assert runs[0].planned_steps <= LIMITS.max_steps
    assert any("steps reduced from 10000000" in n for n in runs[0].notices)
    assert runs[0].steps == 0 and runs[0].stopped_early


def test_estimate_grows_with_the_work(moons):
    s = [spec_for("am_sgd")]
    small = estimate_seconds(moons, (8,), s, 100)
    assert estimate_seconds(moons, (8,), s, 200) == pytest.approx(2 * small, rel=0.05)
    assert estimate_seconds(moons, (128, 128), s, 100) > small
    assert estimate_seconds(moons, (8,), [spec_for("am_adamw")], 100) > small


# ============================================================================= training
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_optimizer_lowers_the_loss(all_runs, name):
    run = next(r for r in all_runs if r.spec.name == name)
    assert run.diverged_at is None and run.steps == 200
    assert np.isfinite(run.loss).all()
    assert run.loss[-1] < 0.8 * run.loss[0], (name, run.loss[0], run.loss[-1])
    assert run.final_loss < 0.8 * run.loss[0]
    assert run.final_train_acc > 0.8


def test_all_runs_start_from_identical_weights(all_runs, moons):
    first = {r.spec.name: r.loss[0] for r in all_runs}
    assert len(set(first.values())) == 1, first
    # ... and that loss is the initial model's full-batch loss
    m = build_mlp(2, (16,), 2, "tanh", seed=0)
    with torch.no_grad():
        l0 = F.cross_entropy(m(torch.tensor(moons.X_train)), torch.tensor(moons.y_train))
    assert all_runs[0].loss[0] == pytest.approx(float(l0), rel=1e-6)
    assert all_runs[0].train_acc[0] == pytest.approx(
        float((m(torch.tensor(moons.X_train)).argmax(1).numpy() == moons.y_train).mean()))


def test_identical_seeds_give_identical_runs(moons):
    specs = [spec_for("am_sgd"), spec_for("am_adamw")]
    kw = dict(batch_size=32, seed=7, boundary_every=10, grid=12)
    a = train(moons, (8, 8), "relu", specs, 40, **kw)
    b = train(moons, (8, 8), "relu", specs, 40, **kw)
    for ra, rb in zip(a, b):
        assert_runs_equal(ra, rb)
        for (sa, pa), (sb, pb) in zip(ra.boundaries, rb.boundaries):
            assert sa == sb and np.array_equal(pa, pb)
    c = train(moons, (8, 8), "relu", specs, 40, **(kw | dict(seed=8)))
    assert not np.array_equal(a[0].loss, c[0].loss)
    assert a[0].loss[0] != c[0].loss[0]              # other initial weights


def test_minibatch_runs_see_identical_batches(moons):
    s = spec_for("am_adamw")
    # the same spec twice: bitwise-equal runs only if they get the same batches
    pair = train(moons, (8,), "tanh", [s, spec_for("sgd"), s], 30, batch_size=16, seed=2)
    assert_runs_equal(pair[0], pair[2])
    # and the batch stream does not depend on which other runs share the call (another
    # program shape, so float32 rounding may differ: ≲ 16 terms × ε₃₂ per step, grown over
    # 30 steps: 1e-4 relative; other batches would differ at O(1))
    solo = train(moons, (8,), "tanh", [s], 30, batch_size=16, seed=2)
    np.testing.assert_allclose(pair[0].loss, solo[0].loss, rtol=1e-4)
    assert len(set(r.loss[0] for r in pair)) == 1
    assert not np.allclose(pair[0].loss[:10], pair[0].loss[0])   # batches do change


def test_batch_indices_stream():
    a = batch_indices(10, 3, seed=1)
    batches = [next(a) for _ in range(6)]                         # 3 batches per epoch
    epoch = torch.cat(batches[:3])
    assert len(set(epoch.tolist())) == 9                          # no repeats within an epoch
    b = batch_indices(10, 3, seed=1)
    assert all(torch.equal(x, next(b)) for x in batches)


def test_train_matches_a_plain_loop_in_float32(moons):
    """The production dtype: the batched float32 program follows a plain float32 loop with the
    library's classes. The β and parameter comparison is float64's (below); in float32 the
    losses agree to 1e-4 relative: one step's reductions differ by ≲ n·ε₃₂ = 150 × 6e-8 ≈ 1e-5
    relative, a few-fold amplified over 40 steps. (β itself is not compared in float32: for a
    2-element bias it is a ratio of differences of nearly equal vectors, as sensitive to the
    summation order as the denominator ‖d − g‖² is small.)"""
    X, y = torch.tensor(moons.X_train), torch.tensor(moons.y_train)
    for spec in (spec_for("am_adamw"), spec_for("am_sgd")):
        model = build_mlp(2, (8,), 2, "tanh", seed=0)
        opt = spec.make(model.parameters())
        losses = []
        for _ in range(40):
            opt.zero_grad()
            loss = F.cross_entropy(model(X), y)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        run = train(moons, (8,), "tanh", [spec], 40, seed=0)[0]
        np.testing.assert_allclose(run.loss, losses, rtol=1e-4, err_msg=spec.name)


def test_per_tensor_beta_shape(all_runs):
    by = {r.spec.name: r for r in all_runs}
    names = ["0.weight", "0.bias", "2.weight", "2.bias"]
    for n in ("am_adamw", "adamw"):
        r = by[n]
        assert r.beta.shape == r.model_beta.shape == r.effective_momentum.shape == (200, 4)
        assert r.layer_names == names and r.per_tensor_beta
    assert np.all(by["adamw"].beta == 0.9)                       # the fixed β₁
    assert np.isfinite(by["adamw"].model_beta).all()            # ... and what AM would pick
    a = by["am_adamw"].beta
    assert np.all((a >= 0) & (a <= 0.9)) and a.std() > 0


def test_six_tensors_for_two_hidden_layers(moons):
    r = train(moons, (8, 8), "tanh", [spec_for("am_adamw")], 10)[0]
    assert r.beta.shape == (10, 6) and len(r.layer_names) == 6
    assert list(r.to_dataframe().columns[-6:]) == [f"beta[{n}]" for n in r.layer_names]


def test_am_sgd_beta_is_a_scalar_in_range(moons, all_runs):
    r = train(moons, (16,), "tanh", [spec_for("am_sgd", beta_max=0.7)], 100)[0]
    assert r.beta.shape == (100,) and not r.per_tensor_beta
    assert np.all((r.beta >= 0) & (r.beta <= 0.7))
    assert r.beta[0] == 0.0                                       # d_0 = g_0
    assert r.beta.max() > 0.1                                     # it adapts
    np.testing.assert_allclose(r.effective_momentum, (r.beta + 0.1) / 1.1, rtol=1e-6)
    by = {x.spec.name: x for x in all_runs}
    assert np.all(by["sgd_ema"].beta == 0.9) and np.all(by["sgd"].beta == 0.0)
    assert np.isfinite(by["sgd_ema"].model_beta).all()
    for n in ("torch_sgd", "torch_adamw"):                        # no last_stats
        assert np.all(by[n].beta == 0.9) and np.isnan(by[n].model_beta).all()


@pytest.mark.parametrize("callback_every", [1, 50])
def test_divergence_is_marked_and_does_not_stop_the_others(moons, callback_every):
    # ReLU + lr 1e6: the loss overflows to NaN within a few steps
    specs = [OptimizerSpec("sgd", 1e6), spec_for("am_sgd"), spec_for("am_adamw")]
    runs = train(moons, (16,), "relu", specs, 60, callback=lambda s, r: None,
                 callback_every=callback_every, boundary_every=5, grid=8, diverge_loss=None)
    bad, *good = runs
    k = bad.diverged_at
    assert k is not None and 0 < k < 60
    assert np.isfinite(bad.loss[:k]).all() and not np.isfinite(bad.loss[k])
    for a in (bad.loss, bad.grad_norm, bad.beta, bad.train_acc, bad.test_acc):
        assert np.isnan(a[k + 1:]).all()
    assert all(s < k for s, _ in bad.boundaries)
    assert math.isnan(bad.final_loss) and bad.confusion is None
    for r in good:
        assert r.diverged_at is None and r.steps == 60
        assert np.isfinite(r.loss).all() and np.isfinite(r.beta).all()
        assert math.isfinite(r.final_loss)


def test_divergence_detection_does_not_depend_on_sync_cadence(moons):
    specs = [OptimizerSpec("am_adamw", 1e3), spec_for("am_sgd")]
    a = train(moons, (16,), "tanh", specs, 40, callback=lambda s, r: None, callback_every=1)
    b = train(moons, (16,), "tanh", specs, 40)
    assert a[0].diverged_at is not None
    for ra, rb in zip(a, b):
        assert_runs_equal(ra, rb)


def test_a_huge_finite_loss_counts_as_diverged(moons):
    # tanh saturates: with lr 1e6 the loss stays finite (~1e6) but the run is wrecked
    runs = train(moons, (16,), "tanh", [OptimizerSpec("sgd", 1e6)], 30)
    assert runs[0].diverged_at == 1 and runs[0].loss[1] > 1e4
    lenient = train(moons, (16,), "tanh", [OptimizerSpec("sgd", 1e6)], 30, diverge_loss=None)
    assert lenient[0].diverged_at is None and np.isfinite(lenient[0].loss).all()
    with pytest.raises(ValueError, match="diverge_loss"):
        train(moons, (16,), "tanh", [OptimizerSpec("sgd", 1e6)], 30, diverge_loss=-1)


def test_should_stop_truncates_consistently(moons):
    polls = []

    def stop():
        polls.append(1)
        return len(polls) > 23

    specs = [spec_for("am_sgd"), spec_for("am_adamw"), spec_for("torch_sgd")]
    runs = train(moons, (8,), "tanh", specs, 500, should_stop=stop, boundary_every=10, grid=10,
                 enforce_limits=False)
    for r in runs:
        assert r.steps == 23 and r.planned_steps == 500 and r.stopped_early
        assert r.progress == pytest.approx(23 / 500)
        assert all(len(a) == 23 for a in (r.loss, r.train_acc, r.test_acc, r.grad_norm,
                                          r.beta, r.model_beta, r.effective_momentum))
        assert np.isfinite(r.loss).all() and math.isfinite(r.final_loss)
        assert [s for s, _ in r.boundaries] == [0, 10, 20, 23]


def test_callback_reports_progress(moons):
    seen = []

    def cb(step, runs):
        seen.append((step, [r.steps for r in runs], [r.finished for r in runs],
                     runs[0].progress, float(runs[1].loss[-1])))

    specs = [spec_for("am_sgd"), spec_for("adamw")]
    final = train(moons, (8,), "tanh", specs, 35, callback=cb, callback_every=10)
    assert [s[0] for s in seen] == [10, 20, 30, 35]
    assert [s[1] for s in seen] == [[10, 10], [20, 20], [30, 30], [35, 35]]
    assert [s[2] for s in seen] == [[False] * 2] * 3 + [[True] * 2]
    assert [s[3] for s in seen] == [10 / 35, 20 / 35, 30 / 35, 1.0]
    assert seen[1][4] == final[1].loss[19]          # partial records hold the final values
    assert all(r.finished for r in final)


def test_the_callers_code_runs_in_normal_autograd_mode(moons):
    """The training loop runs in inference mode; a callback or a Stop poll that does autograd
    work of its own still can (a tensor made there trains normally)."""
    modes = []

    def cb(step, runs):
        modes.append(torch.is_inference_mode_enabled())
        w = torch.ones(2, requires_grad=True)
        (w * runs[0].loss[-1]).sum().backward()       # fails on an inference tensor / mode
        assert w.grad is not None

    def stop():
        modes.append(torch.is_inference_mode_enabled())
        return False

    runs = train(moons, (8,), "tanh", [spec_for("am_sgd")], 12, callback=cb, callback_every=5,
                 should_stop=stop, enforce_limits=False)
    assert runs[0].steps == 12 and len(modes) == 12 + 3 and not any(modes)
    assert not torch.is_inference_mode_enabled()
    t = torch.as_tensor(runs[0].loss)                  # what leaves train() is plain data
    assert not t.is_inference()


def test_record_every_controls_the_accuracy_evaluations(moons):
    r = train(moons, (8,), "tanh", [spec_for("sgd")], 23, record_every=5)[0]
    np.testing.assert_array_equal(r.eval_steps, [0, 5, 10, 15, 20, 22])
    assert np.isfinite(r.loss).all() and np.isfinite(r.grad_norm).all()
    auto = train(moons, (8,), "tanh", [spec_for("sgd")], 300)[0]
    assert len(auto.eval_steps) == pytest.approx(100, abs=2)


def test_decision_boundary_snapshots(moons):
    runs = train(moons, (8,), "tanh", [spec_for("am_sgd"), spec_for("sgd")], 30,
                 boundary_every=10, grid=25)
    for r in runs:
        assert [s for s, _ in r.boundaries] == [0, 10, 20, 30]
        for _, p in r.boundaries:
            assert p.shape == (25, 25) and p.dtype == np.float32
            assert np.all((p >= 0) & (p <= 1))
        assert r.grid_x.shape == r.grid_y.shape == (25,)
    # identical initial weights: the same picture at step 0, to the rounding of the batched
    # matrix product (CPU bmm kernels are not bit-identical across batch entries whose
    # addresses differ in alignment, e.g. 8 × 625 float32 rows: a few ulps of 8-term sums)
    np.testing.assert_allclose(runs[0].boundaries[0][1], runs[1].boundaries[0][1], rtol=1e-6)
    assert not np.array_equal(runs[0].boundaries[-1][1], runs[1].boundaries[-1][1])
    blobs = make_dataset("blobs", n=150, n_classes=3)
    r = train(blobs, (8,), "relu", [spec_for("am_adamw")], 5, grid=20)[0]
    assert [s for s, _ in r.boundaries] == [5]                    # only the final one
    p = r.boundaries[0][1]
    assert p.shape == (20, 20, 3)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-5)


def test_digits_confusion_and_misclassified():
    ds = make_dataset("digits", n=500, seed=0)
    r = train(ds, (32,), "relu", [spec_for("am_adamw")], 60)[0]
    assert r.confusion.shape == (10, 10)
    assert r.confusion.sum() == ds.n_test
    assert np.trace(r.confusion) / ds.n_test == pytest.approx(r.final_test_acc)
    assert r.final_test_acc > 0.7
    assert r.boundaries == [] and r.grid_x is None
    assert len(r.misclassified) == min(16, ds.n_test - np.trace(r.confusion))
    assert np.all(r.misclassified < ds.n_test)
    # the recorded predictions are the confusion matrix's and the misclassified ones
    assert r.test_pred.shape == (ds.n_test,)
    np.testing.assert_array_equal(
        np.bincount(ds.y_test * 10 + r.test_pred, minlength=100).reshape(10, 10), r.confusion)
    assert np.all(r.test_pred[r.misclassified] != ds.y_test[r.misclassified])


def test_dataframe_export(all_runs):
    df = runs_to_dataframe(all_runs[:3])
    assert len(df) == 3 * 200
    assert {"run", "step", "optimizer", "loss", "beta", "test_acc"} <= set(df.columns)
    assert df.to_csv(index=False).startswith("run,step,optimizer")


def test_threads_restored_and_global_rng_untouched(moons):
    before_threads, before_rng = torch.get_num_threads(), torch.random.get_rng_state()
    train(moons, (8,), "tanh", [spec_for("sgd")], 5, batch_size=16)
    assert torch.get_num_threads() == before_threads
    assert torch.equal(torch.random.get_rng_state(), before_rng)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(moons):
    specs = [spec_for("am_sgd"), spec_for("am_adamw"), spec_for("torch_adamw")]
    cpu = train(moons, (16, 16), "tanh", specs, 50, device="cpu", boundary_every=25, grid=10)
    gpu = train(moons, (16, 16), "tanh", specs, 50, device="cuda", boundary_every=25, grid=10)
    for a, b in zip(cpu, gpu):
        assert b.device.startswith("cuda")
        np.testing.assert_allclose(a.loss, b.loss, rtol=1e-3, atol=1e-5)
        assert a.beta.shape == b.beta.shape
        assert [s for s, _ in a.boundaries] == [s for s, _ in b.boundaries]


@pytest.mark.parametrize("C", [2, 5])
def test_predictions_are_argmax_with_its_ties(C):
    """The batched program's predicted class is torch.argmax over the classes, first index on
    ties (integer logits make many ties)."""
    from adamem_core.mlp import _predict
    z = torch.randint(-2, 3, (4, C, 300)).to(torch.float32)
    pred = _predict(z)
    assert pred.dtype == torch.long
    assert torch.equal(pred, z.argmax(1))


def test_doc_example_runs():
    ds = make_dataset("moons", n=200, noise=0.2, seed=0)
    runs = train(ds, (16,), "tanh", [OptimizerSpec("am_sgd", 0.3)], steps=50)
    assert runs[0].loss.shape == (50,)
    assert copy.deepcopy(runs[0]).label.startswith("AM-SGD")


# ============================================================================= batched = alone
# Every registry kind plus the variants the batched update has its own branches for: per-run
# learning rates (two AM-SGD and two AM-AdamW runs), AM-SGD's per-tensor scope, AM-AdamW's
# global scope, L2 / decoupled weight decay, Nesterov, and λ = 0 next to λ > 0 in one AdamW
# group (the default registry puts am_adamw, adamw and torch_adamw there).
EQUIV_SPECS = [
    OptimizerSpec("am_sgd", 0.3), OptimizerSpec("am_sgd", 0.1, lam=0.3, beta_max=0.8),
    OptimizerSpec("am_sgd", 0.3, beta_scope="tensor"),
    OptimizerSpec("sgd", 0.3, weight_decay=1e-3), OptimizerSpec("sgd_ema", 0.3, beta=0.8),
    OptimizerSpec("nesterov", 0.2, beta=0.9), OptimizerSpec("torch_sgd", 0.1, beta=0.9),
    OptimizerSpec("torch_sgd", 0.05, beta=0.5, weight_decay=1e-3),
    OptimizerSpec("am_adamw", 0.02), OptimizerSpec("am_adamw", 0.01, lam=0.5, weight_decay=0.0),
    OptimizerSpec("am_adamw", 0.02, beta_scope="global"), OptimizerSpec("adamw", 0.02),
    OptimizerSpec("adamw", 0.03, beta1=0.5, betas=(0.9, 0.99), eps=1e-6),
    OptimizerSpec("torch_adamw", 0.02), OptimizerSpec("torch_adamw", 0.01, beta1=0.8),
]
assert {s.name for s in EQUIV_SPECS} == set(OPTIMIZERS)


def alone(ds: Dataset, spec: OptimizerSpec, steps: int, batch_size: int | None, seed: int,
          hidden=(8, 8), activation="tanh"):
    """The reference: one spec alone, a plain float64 loop with the library's class (AMSGD,
    AMAdamW or torch.optim's) on an nn.Sequential, autograd gradients, the same batches."""
    prev = torch.get_num_threads()
    torch.set_num_threads(1)          # (2 OpenMP threads on a shared 2-core machine crawl)
    try:
        return _alone(ds, spec, steps, batch_size, seed, hidden, activation)
    finally:
        torch.set_num_threads(prev)


def _alone(ds, spec, steps, batch_size, seed, hidden, activation):
    model = build_mlp(ds.n_features, hidden, ds.n_classes, activation, seed).double()
    opt = spec.make(model.parameters())
    X, y = torch.tensor(ds.X_train, dtype=torch.float64), torch.tensor(ds.y_train)
    stream = None if batch_size is None else batch_indices(ds.n_train, batch_size, seed)
    losses, betas = [], []
    for _ in range(steps):
        xb, yb = (X, y) if stream is None else (lambda i: (X[i], y[i]))(next(stream))
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        st = getattr(opt, "last_stats", None)
        if st is not None:
            betas.append(st["beta"].numpy().copy())
    params = {n: p.detach().numpy() for n, p in model.named_parameters()}
    return np.array(losses), (np.array(betas) if betas else None), params


# Tolerance. float64 (ε = 2.2e-16). The batched program computes the same operations, but its
# reductions run in another order (a bmm/addmm over stacked runs instead of one addmm per
# model, a hand-written backward instead of autograd's, inner products per tensor then summed
# instead of torch.dot over one tensor): per step each quantity differs by at most about
# n·ε relative for a sum of n ≤ 150 terms (here the 150-point training set, 8·8 weights),
# i.e. ≲ 3e-14. Across 30 steps the training map amplifies a perturbation by at most the
# product of its per-step Lipschitz factors; with these step sizes that is well below 1e3
# (measured growth of the difference: ≲ 10×), so 1e-10 relative (plus 1e-12 absolute for
# entries near 0, e.g. a β clipped at 0 or a bias) leaves margin on any CPU while a wrong
# formula (an O(1) change in one step) is off by orders of magnitude more.
EQ_RTOL, EQ_ATOL = 1e-10, 1e-12


@pytest.mark.parametrize("batch_size", [None, 16], ids=["full_batch", "mini_batch"])
def test_batched_equals_each_spec_alone_with_the_library_classes(batch_size):
    ds = make_dataset("moons", n=200, noise=0.2, seed=1)
    steps, seed = 30, 3
    runs = train(ds, (8, 8), "tanh", EQUIV_SPECS, steps, batch_size=batch_size, seed=seed,
                 device="cpu", enforce_limits=False, dtype=torch.float64, record_every=1)
    for spec, run in zip(EQUIV_SPECS, runs):
        losses, betas, params = alone(ds, spec, steps, batch_size, seed)
        msg = f"{spec!r} ({'full batch' if batch_size is None else 'mini-batch'})"
        assert run.diverged_at is None, msg
        np.testing.assert_allclose(run.loss, losses, rtol=EQ_RTOL, atol=EQ_ATOL, err_msg=msg)
        if betas is not None:
            np.testing.assert_allclose(run.beta, betas, rtol=EQ_RTOL, atol=EQ_ATOL, err_msg=msg)
        else:
            assert np.all(run.beta == spec.fixed_beta)
        assert list(run.final_params) == list(params)
        for n, p in params.items():
            np.testing.assert_allclose(run.final_params[n], p, rtol=EQ_RTOL, atol=EQ_ATOL,
                                       err_msg=f"{msg} {n}")


@pytest.mark.parametrize("batch_size", [None, 16], ids=["full_batch", "mini_batch"])
def test_runs_in_chunks_equal_the_whole_batch(batch_size, monkeypatch):
    """On a CPU the networks run in chunks of runs that fit the caches (large sweeps): the same
    results as all runs at once, within the equivalence tolerance (each run's products and
    reductions are its own; only the batched kernels' blocking differs), with a diverging run
    in one chunk and seeds with their own data order across chunks."""
    import adamem_core.mlp as mlp
    ds = make_dataset("moons", n=200, noise=0.2, seed=0)
    specs = [OptimizerSpec("am_sgd", 1.0), OptimizerSpec("sgd", 1.0),
             OptimizerSpec("am_adamw", 1.0), OptimizerSpec("nesterov", 1.0, beta=0.9),
             OptimizerSpec("adamw", 1.0)]
    kw = dict(steps=20, batch_size=batch_size, device="cpu", enforce_limits=False,
              dtype=torch.float64)
    lrs = [0.03, 3000.0]                   # 3000: the SGD family diverges (ReLU overflows)
    whole = sweep(ds, (8, 8), "relu", specs, lrs, seeds=(0, 1), **kw)
    monkeypatch.setattr(mlp, "_CHUNK_VALUES", 8 * 150)        # one run per chunk
    chunked = sweep(ds, (8, 8), "relu", specs, lrs, seeds=(0, 1), **kw)
    assert any(r.diverged_at is not None for r in whole.runs)
    for a, b in zip(whole.runs, chunked.runs):
        assert a.diverged_at == b.diverged_at
        n = a.steps if a.diverged_at is None else a.diverged_at
        for f in ("loss", "beta", "grad_norm", "test_acc"):
            np.testing.assert_allclose(getattr(a, f)[:n], getattr(b, f)[:n], rtol=EQ_RTOL,
                                       atol=EQ_ATOL, err_msg=f)


@pytest.mark.parametrize("batch_size", [None, 16], ids=["full_batch", "mini_batch"])
def test_a_diverging_run_leaves_the_others_untouched(batch_size):
    """NaN isolation: run 1 blows up (lr 1e6, ReLU: its loss overflows to inf/NaN). The other
    runs are bit-for-bit what they are when run 1 is a sane run instead (the same program
    shape, so literally the same operations on their rows: exact equality is portable here),
    and equal within the equivalence tolerance to the batch without run 1 at all (other
    shapes: other reduction blockings)."""
    ds = make_dataset("moons", n=200, noise=0.2, seed=0)
    others = [OptimizerSpec("am_sgd", 0.3), OptimizerSpec("sgd_ema", 0.3),
              OptimizerSpec("am_adamw", 0.02), OptimizerSpec("adamw", 0.02)]
    kw = dict(steps=40, batch_size=batch_size, seed=1, device="cpu", enforce_limits=False,
              dtype=torch.float64, record_every=1, diverge_loss=None)
    bad = train(ds, (16,), "relu", [others[0], OptimizerSpec("sgd", 1e6)] + others[1:], **kw)
    sane = train(ds, (16,), "relu", [others[0], OptimizerSpec("sgd", 0.3)] + others[1:], **kw)
    without = train(ds, (16,), "relu", others, **kw)
    assert bad[1].diverged_at is not None and sane[1].diverged_at is None
    assert not np.isfinite(bad[1].loss[bad[1].diverged_at])
    for a, b, c in zip(bad[:1] + bad[2:], sane[:1] + sane[2:], without):
        assert a.diverged_at is None and np.isfinite(a.loss).all()
        assert_runs_equal(a, b)
        for n in a.final_params:
            np.testing.assert_array_equal(a.final_params[n], b.final_params[n])
        np.testing.assert_allclose(a.loss, c.loss, rtol=EQ_RTOL, atol=EQ_ATOL)
        np.testing.assert_allclose(a.beta, c.beta, rtol=EQ_RTOL, atol=EQ_ATOL)
        for n in a.final_params:
            np.testing.assert_allclose(a.final_params[n], c.final_params[n], rtol=EQ_RTOL,
                                       atol=EQ_ATOL)



# ============================================================================= time limit
def test_the_clock_stops_a_training_and_keeps_the_partial_result(moons):
    """Issue 8: the limit is enforced by the clock, whatever the estimate said. 20,000 steps
    cannot finish in 0.3 s on any CPU: the training stops, keeps what it did and says so."""
    specs = [spec_for("am_sgd"), spec_for("am_adamw")]
    runs = train(moons, (16,), "tanh", specs, 20_000, enforce_limits=False, time_limit_s=0.3,
                 boundary_every=100, grid=8)
    for r in runs:
        assert r.stopped_early and r.time_limited and r.finished
        assert 0 < r.steps < 20_000 and r.planned_steps == 20_000
        assert np.isfinite(r.loss).all() and np.isfinite(r.beta).all()
        assert math.isfinite(r.final_loss) and r.confusion is not None    # the final model
        assert r.boundaries[-1][0] == r.steps
        assert any("0.3 s time limit" in n and f"after {r.steps} of 20000" in n
                   for n in r.notices)
    # no clock limit without enforce_limits (library use) unless asked: it finishes
    r = train(moons, (8,), "tanh", [spec_for("sgd")], 30, enforce_limits=False)[0]
    assert not r.time_limited and r.steps == 30
    with pytest.raises(ValueError, match="time_limit_s"):
        train(moons, (8,), "tanh", [spec_for("sgd")], 3, time_limit_s=-1)


def test_the_limits_extrapolate_the_measured_step_time(moons):
    specs = [spec_for("am_sgd")]
    slow = StepTiming(step_s=0.01, eval_s=0.02, snapshot_s=0.0)
    cfg, notes = clamp_config(moons, (16,), specs, 5000, timing=slow)
    # 10 s at 10 ms a step (+ ~100 evaluations of 20 ms): about 800 steps
    assert 700 < cfg.steps < 1000 and cfg.estimated_seconds <= LIMITS.time_budget_s
    assert cfg.estimated_seconds == pytest.approx(slow.seconds(cfg.steps, cfg.record_every,
                                                               None))
    assert any(f"steps reduced from 5000 to {cfg.steps}" in n and "under 10 s" in n
               for n in notes)
    fast = StepTiming(step_s=1e-5, eval_s=1e-5)
    cfg2, notes2 = clamp_config(moons, (16,), specs, 5000, timing=fast)
    assert cfg2.steps == 5000 and notes2 == []
    # train() applies the measured timing it is given (the page passes its calibration)
    run = train(moons, (16,), "tanh", specs, 5000, timing=slow, should_stop=lambda: True)[0]
    assert run.planned_steps == cfg.steps
    with pytest.raises(ValueError, match="timing"):
        train(moons, (16,), "tanh", specs, 5, timing=0.1)


def test_calibrate_times_the_real_program(moons):
    t = calibrate(moons, (16,), "tanh", [spec_for("am_sgd"), spec_for("am_adamw")],
                  device="cpu", grid=20)
    assert t.step_s > 0 and t.eval_s > 0 and t.snapshot_s > 0
    assert all(math.isfinite(v) for v in (t.step_s, t.eval_s, t.snapshot_s))
    assert t.seconds(100, 10, None) == pytest.approx(100 * t.step_s + 12 * t.eval_s)


# ============================================================================= sweeps
SWEEP_SPECS = [OptimizerSpec("am_sgd", 1.0), OptimizerSpec("sgd_ema", 1.0, beta=0.9),
               OptimizerSpec("am_adamw", 1.0), OptimizerSpec("torch_adamw", 1.0)]


def test_sweep_table_and_each_cell_is_the_run_alone():
    """Every cell of a sweep is the training of that optimizer at that lr from that seed:
    equal (float64, the equivalence tolerance) to train() of that spec alone with that seed."""
    ds = make_dataset("moons", n=160, noise=0.2, seed=0)
    lrs = [0.03, 0.3, 3000.0]
    res = sweep(ds, (8,), "relu", SWEEP_SPECS, lrs, seeds=(0, 5), steps=25, device="cpu",
                enforce_limits=False, dtype=torch.float64)
    t = res.table
    assert list(t.columns) == ["name", "label", "lr", "beta", "lam", "seed", "final_test_acc",
                               "final_train_acc", "final_loss", "diverged_at", "steps",
                               "stopped_early"]
    assert len(t) == len(SWEEP_SPECS) * len(lrs) * 2 == len(res.runs)
    assert set(t["lr"]) == set(lrs) and set(t["seed"]) == {0, 5}
    am = t[t["name"] == "am_sgd"]
    assert am["beta"].isna().all() and (am["lam"] == 0.1).all()
    assert am["label"].iloc[0] == "AM-SGD λ=0.1, β_max=0.9"          # no η in the row label
    ema = t[t["name"] == "sgd_ema"]
    assert (ema["beta"] == 0.9).all() and (ema["lam"] == 0.0).all()
    assert t[t["name"] == "torch_adamw"]["lam"].isna().all()
    # lr 3000 diverges for the SGD family: marked, NaN results; the others finite
    bad = t[(t["lr"] == 3000.0) & t["name"].isin(["am_sgd", "sgd_ema"])]
    assert bad["diverged_at"].notna().all() and bad["final_loss"].isna().all()
    good = t[t["lr"] == 0.03]
    assert good["diverged_at"].isna().all() and good["final_test_acc"].between(0, 1).all()
    # the same seed: the same initial weights; another seed: others
    first = {(r.spec.name, r.spec.lr, r.meta["seed"]): r.loss[0] for r in res.runs}
    assert len({v for (n, lr, sd), v in first.items() if sd == 0}) == 1
    assert first[("am_sgd", 0.3, 0)] != first[("am_sgd", 0.3, 5)]
    for k in (1, 7, 12, 20):                       # a few cells against train() alone
        r = res.runs[k]
        solo = train(ds, (8,), "relu", [r.spec], 25, seed=r.meta["seed"], device="cpu",
                     enforce_limits=False, dtype=torch.float64)[0]
        assert solo.diverged_at == r.diverged_at
        n = r.diverged_at if r.diverged_at is not None else 25
        np.testing.assert_allclose(r.loss[:n], solo.loss[:n], rtol=EQ_RTOL, atol=EQ_ATOL)


def test_sweep_minibatch_seeds_have_their_own_batch_order():
    ds = make_dataset("moons", n=160, noise=0.2, seed=0)
    res = sweep(ds, (8,), "tanh", [OptimizerSpec("sgd", 1.0)], [0.1], seeds=(1, 2), steps=12,
                batch_size=16, device="cpu", enforce_limits=False, dtype=torch.float64)
    for r in res.runs:
        solo = train(ds, (8,), "tanh", [r.spec], 12, batch_size=16, seed=r.meta["seed"],
                     device="cpu", enforce_limits=False, dtype=torch.float64)[0]
        np.testing.assert_allclose(r.loss, solo.loss, rtol=EQ_RTOL, atol=EQ_ATOL)


def test_sweep_limits_with_notices(moons):
    specs = [OptimizerSpec("sgd_ema", 1.0, beta=b / 10) for b in range(9)] + SWEEP_SPECS
    lrs = list(np.geomspace(1e-4, 1, 30))
    cfg, notes = clamp_sweep(moons, (16,), specs, lrs, range(9), 10**6,
                             timing=StepTiming(0.05, 0.05))
    text = "\n".join(notes)
    L = SWEEP_LIMITS
    assert len(cfg.specs) == L.max_optimizers and "optimizers reduced from 13" in text
    assert len(cfg.lrs) <= L.max_lrs and "learning rates reduced from 30" in text
    assert cfg.lrs[0] == pytest.approx(1e-4) and cfg.lrs[-1] == pytest.approx(1.0)
    assert len(cfg.seeds) <= L.max_seeds and cfg.n_runs <= L.max_runs
    assert cfg.steps * 0.05 <= L.time_budget_s and "under 20 s" in text
    assert cfg.estimated_seconds <= L.time_budget_s
    # memory: a huge full batch becomes mini-batches, said so
    tiny = SweepLimits(max_values=100_000)
    cfg2, notes2 = clamp_sweep(moons, (64,), SWEEP_SPECS, [0.1, 0.2], (0, 1), 10, limits=tiny)
    assert cfg2.batch_size is not None and cfg2.batch_size < moons.n_train
    assert cfg2.batch_size * cfg2.n_runs * 64 <= 100_000 or cfg2.batch_size == 16
    assert any("mini-batches of" in n for n in notes2)
    for bad, field in (([], "lrs"), ([0.1, -1], r"lrs\[1\]"), ([float("nan")], r"lrs\[0\]")):
        with pytest.raises(ValueError, match=field):
            clamp_sweep(moons, (8,), SWEEP_SPECS, bad, (0,), 10)
    with pytest.raises(ValueError, match="seeds"):
        clamp_sweep(moons, (8,), SWEEP_SPECS, [0.1], (), 10)


def test_sweep_enforces_limits_and_the_clock(moons):
    res = sweep(moons, (8,), "tanh", SWEEP_SPECS, [0.01, 0.1], seeds=(0,), steps=50_000,
                device="cpu", time_limit_s=0.5)
    assert res.config.steps <= SWEEP_LIMITS.max_steps
    assert any("steps reduced from 50000" in n for n in res.notices)
    r = res.runs[0]
    assert r.planned_steps == res.config.steps
    if r.time_limited:                         # stopped by the clock: partial, and said so
        assert res.stopped_early and any("time limit" in n for n in res.notices)
    assert (res.table["steps"] == r.steps).all()
