"""neural_memory_scan: the contract of DESIGN.md, against a token-by-token reference."""

import pytest
import torch
import torch.nn.functional as F
from reference_memory import token_by_token

from titans_seq.memory import MemoryMLP, neural_memory_scan
from titans_seq.memory import scan as scan_module
from titans_seq.memory.models import ChunkStepper

DIM = 6


def make_inputs(memory, batch=2, length=11, dtype=torch.float64, seed=0, lr_scale=0.3):
    """Random scan inputs: unit keys and queries, per-token gates, a non-zero starting momentum."""
    g = torch.Generator().manual_seed(seed)
    params = {n: p.to(dtype).expand(batch, *p.shape) + 0.1 * torch.randn(batch, *p.shape, generator=g, dtype=dtype)
              for n, p in memory.init_params(generator=g).items()}
    surprise = {n: 0.01 * torch.randn(p.shape, generator=g, dtype=dtype) for n, p in params.items()}
    unit = lambda: F.normalize(torch.randn(batch, length, DIM, generator=g, dtype=dtype), dim=-1)  # noqa: E731
    return dict(
        params=params,
        keys=unit(),
        values=torch.randn(batch, length, DIM, generator=g, dtype=dtype),
        queries=unit(),
        lr=lr_scale * torch.rand(batch, length, generator=g, dtype=dtype),
        momentum=torch.rand(batch, length, generator=g, dtype=dtype),
        forget=0.2 * torch.rand(batch, length, generator=g, dtype=dtype),
        surprise=surprise,
    )


MEMORIES = {
    "linear": MemoryMLP(DIM, depth=1),
    "mlp2": MemoryMLP(DIM, depth=2, expansion=2.0),
    "mlp3-residual-norm": MemoryMLP(DIM, depth=3, expansion=1.5, residual=True, norm=True),
}


def generic(memory):
    """The same memory behind a plain function, which forces the generic torch.func path."""
    return lambda params, x: memory(params, x)


def tanh_memory(params, x):
    """A memory model that is none of the built-ins."""
    return torch.tanh(x @ params["a"]) @ params["b"] + params["c"]


def flat(result):
    retrieved, params, surprise = result
    return [retrieved, *params.values(), *surprise.values()]


def assert_all_close(actual, expected, rtol, atol=0.0):
    for a, e in zip(flat(actual), flat(expected), strict=True):
        torch.testing.assert_close(a, e, rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", list(MEMORIES))
@pytest.mark.parametrize("chunk_size", [1, 4, 5, 16])
def test_matches_token_by_token_reference(name, chunk_size):
    memory = MEMORIES[name]
    inputs = make_inputs(memory)
    expected = token_by_token(memory, **inputs, chunk_size=chunk_size)
    assert_all_close(neural_memory_scan(memory, **inputs, chunk_size=chunk_size), expected, rtol=1e-10, atol=1e-12)
    assert_all_close(
        neural_memory_scan(generic(memory), **inputs, chunk_size=chunk_size), expected, rtol=1e-10, atol=1e-12
    )


@pytest.mark.parametrize("chunk_size", [1, 3])
def test_any_torch_func_memory_matches_reference(chunk_size):
    g = torch.Generator().manual_seed(1)
    base = make_inputs(MEMORIES["linear"], seed=1)
    base["params"] = {"a": torch.randn(2, DIM, 5, generator=g, dtype=torch.float64) * 0.5,
                      "b": torch.randn(2, 5, DIM, generator=g, dtype=torch.float64) * 0.5,
                      "c": torch.zeros(2, DIM, dtype=torch.float64)}
    base["surprise"] = None
    expected = token_by_token(tanh_memory, **base, chunk_size=chunk_size)
    assert_all_close(neural_memory_scan(tanh_memory, **base, chunk_size=chunk_size), expected, rtol=1e-10, atol=1e-12)


def _gradients(fn, inputs, chunk_size):
    """Gradients of a scalar of every output with respect to every input."""
    leaves = {k: v.detach().clone().requires_grad_() for k, v in inputs.items() if torch.is_tensor(v)}
    leaves.update({f"params.{n}": p.detach().clone().requires_grad_() for n, p in inputs["params"].items()})
    args = {k: v for k, v in leaves.items() if "." not in k}
    params = {n.split(".", 1)[1]: v for n, v in leaves.items() if n.startswith("params.")}
    retrieved, w, s = fn(params=params, **args, surprise=inputs["surprise"], chunk_size=chunk_size)
    loss = retrieved.sin().sum() + sum(x.cos().sum() for x in [*w.values(), *s.values()])
    grads = torch.autograd.grad(loss, list(leaves.values()))
    return dict(zip(leaves, grads, strict=True))


@pytest.mark.parametrize("name", list(MEMORIES))
@pytest.mark.parametrize("chunk_size", [1, 4])
def test_gradients_match_reference(name, chunk_size):
    memory = MEMORIES[name]
    inputs = make_inputs(memory, length=9)
    expected = _gradients(lambda **kw: token_by_token(memory, **kw), inputs, chunk_size)
    for fn in (memory, generic(memory)):
        actual = _gradients(lambda fn=fn, **kw: neural_memory_scan(fn, **kw), inputs, chunk_size)
        for key in expected:
            scale = expected[key].abs().max()
            assert (actual[key] - expected[key]).abs().max() <= 1e-10 * scale, key


@pytest.mark.parametrize("name", list(MEMORIES))
@pytest.mark.parametrize("chunk_size", [1, 4, 5])
def test_from_zero_momentum_both_chunk_loops_match_reference(name, chunk_size, monkeypatch):
    """From zero momentum a short sequence may skip forming the memory at each chunk (the factored
    loop); either loop gives the reference's outputs, end states and gradients."""
    memory = MEMORIES[name]
    inputs = {**make_inputs(memory, length=9), "surprise": None}
    expected = token_by_token(memory, **inputs, chunk_size=chunk_size)
    expected_grads = _gradients(lambda **kw: token_by_token(memory, **kw), inputs, chunk_size)
    for break_even in (0.0, float("inf")):  # never factored, always factored
        monkeypatch.setattr(scan_module, "_FACTORED_BREAK_EVEN", break_even)
        actual = neural_memory_scan(memory, **inputs, chunk_size=chunk_size)
        assert_all_close(actual, expected, rtol=1e-10, atol=1e-12)
        grads = _gradients(lambda **kw: neural_memory_scan(memory, **kw), inputs, chunk_size)
        for key in expected_grads:
            scale = expected_grads[key].abs().max()
            assert (grads[key] - expected_grads[key]).abs().max() <= 1e-10 * scale, (break_even, key)


def to_float64(inputs):
    return {k: to_float64(v) if isinstance(v, dict) else v.double() for k, v in inputs.items()}


@pytest.mark.parametrize("name", list(MEMORIES))
def test_fast_path_equals_generic_path(name):
    memory = MEMORIES[name]
    for dtype, rtol in [(torch.float64, 1e-10), (torch.float32, 1e-5)]:
        # Three chunks and a part: longer float32 runs of the LayerNorm memory amplify rounding on both paths.
        inputs = make_inputs(memory, batch=3, length=28, dtype=dtype, lr_scale=0.05)
        fast = neural_memory_scan(memory, **inputs, chunk_size=8)
        # The generic path's exact answer for the same inputs: in float32 the two paths round differently (on
        # the LayerNorm memory each lands ~7e-6 from it, on opposite sides on some CPUs), and against each
        # other the test would measure the sum of two roundings, not the fast path's.
        slow = neural_memory_scan(generic(memory), **to_float64(inputs), chunk_size=8)
        for a, e in zip(flat(fast), flat(slow), strict=True):
            assert a.dtype == dtype
            scale = e.abs().max()
            assert (a.double() - e).abs().max() <= rtol * scale, (dtype, (a.double() - e).abs().max() / scale)


@pytest.mark.parametrize("start_momentum", ["given", "zero (factored loop)"])
def test_gradcheck_float64(start_momentum, monkeypatch):
    memory = MemoryMLP(3, depth=2, expansion=1.0)
    inputs = make_inputs(memory, batch=1, length=5)
    zero_momentum = start_momentum != "given"
    if zero_momentum:
        monkeypatch.setattr(scan_module, "_FACTORED_BREAK_EVEN", float("inf"))
    for k in ("keys", "values", "queries"):
        inputs[k] = inputs[k][..., :3]
    names = ["keys", "values", "queries", "lr", "momentum", "forget"]
    param_names = list(inputs["params"])
    n_params = len(param_names)

    def f(*tensors):
        args = dict(zip(names, tensors[: len(names)], strict=True))
        params = dict(zip(param_names, tensors[len(names):len(names) + n_params], strict=True))
        surprise = None if zero_momentum else dict(zip(param_names, tensors[len(names) + n_params:], strict=True))
        retrieved, w, s = neural_memory_scan(memory, params, **args, chunk_size=2, surprise=surprise)
        return retrieved, *w.values(), *s.values()

    tensors = [inputs[n].clone().requires_grad_() for n in names]
    tensors += [p.clone().requires_grad_() for p in inputs["params"].values()]
    if not zero_momentum:
        tensors += [s.clone().requires_grad_() for s in inputs["surprise"].values()]
    assert torch.autograd.gradcheck(f, tensors)
    # Second order: the outer gradient itself differentiates through the inner gradient, and through
    # the end states (what a later piece of a streamed sequence back-propagates into).
    assert torch.autograd.gradgradcheck(lambda *t: f(*t)[0], tensors)
    assert torch.autograd.gradgradcheck(lambda *t: f(*t)[1:], tensors)


def test_retrieval_is_causal():
    memory = MEMORIES["mlp2"]
    inputs = make_inputs(memory, length=20)
    retrieved, _, _ = neural_memory_scan(memory, **inputs, chunk_size=4)
    for t in (0, 5, 8, 13, 19):
        changed = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in inputs.items()}
        for k in ("keys", "values", "queries"):
            changed[k][:, t:] += 1.0
        for k in ("lr", "momentum", "forget"):
            changed[k][:, t:] *= 0.5
        again, _, _ = neural_memory_scan(memory, **changed, chunk_size=4)
        assert torch.equal(again[:, :t], retrieved[:, :t])
        assert not torch.equal(again[:, t:], retrieved[:, t:])


def test_two_calls_at_a_chunk_boundary_equal_one():
    memory = MEMORIES["mlp2"]
    inputs = make_inputs(memory, length=24)
    whole = neural_memory_scan(memory, **inputs, chunk_size=4)
    first = {k: (v[:, :12] if torch.is_tensor(v) else v) for k, v in inputs.items()}
    second = {k: (v[:, 12:] if torch.is_tensor(v) else v) for k, v in inputs.items()}
    r1, w1, s1 = neural_memory_scan(memory, **first, chunk_size=4)
    second.update(params=w1, surprise=s1)
    r2, w2, s2 = neural_memory_scan(memory, **second, chunk_size=4)
    assert_all_close((torch.cat([r1, r2], dim=1), w2, s2), whole, rtol=1e-12, atol=1e-14)


def test_gates_at_their_limits():
    """eta = 0 (no momentum) and alpha = 1 (forget everything) are exact, not approximately so."""
    memory = MEMORIES["linear"]
    inputs = make_inputs(memory, length=8)
    inputs.update(momentum=torch.zeros_like(inputs["lr"]), forget=torch.ones_like(inputs["lr"]))
    expected = token_by_token(memory, **inputs, chunk_size=4)
    assert_all_close(neural_memory_scan(memory, **inputs, chunk_size=4), expected, rtol=1e-12, atol=1e-14)


def test_zero_learning_rate_changes_nothing_but_forgetting():
    memory = MEMORIES["mlp2"]
    inputs = make_inputs(memory, length=10)
    inputs.update(lr=torch.zeros_like(inputs["lr"]), momentum=torch.zeros_like(inputs["lr"]),
                  forget=torch.zeros_like(inputs["lr"]))
    _, w, s = neural_memory_scan(memory, **inputs, chunk_size=3)
    for n, p in inputs["params"].items():
        torch.testing.assert_close(w[n], p, rtol=0, atol=1e-15)
        assert not s[n].abs().any()


def test_empty_sequence_returns_the_state():
    memory = MEMORIES["mlp2"]
    inputs = {k: (v[:, :0] if torch.is_tensor(v) else v) for k, v in make_inputs(memory).items()}
    retrieved, w, s = neural_memory_scan(memory, **inputs, chunk_size=4)
    assert retrieved.shape == (2, 0, DIM)
    for n in w:
        assert torch.equal(w[n], inputs["params"][n]) and torch.equal(s[n], inputs["surprise"][n])


def test_bf16_autocast_runs_the_update_in_float32():
    memory = MEMORIES["mlp2"]
    inputs = make_inputs(memory, dtype=torch.float32, length=16, lr_scale=0.05)
    reference = neural_memory_scan(memory, **inputs, chunk_size=4)
    low = {k: (v.bfloat16() if k in ("keys", "values", "queries") else v) for k, v in inputs.items()}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        retrieved, w, _ = neural_memory_scan(memory, **low, chunk_size=4)
    assert retrieved.dtype == torch.float32 and all(p.dtype == torch.float32 for p in w.values())
    # Only the inputs were rounded to bfloat16; the recurrence itself kept float32 precision.
    torch.testing.assert_close(retrieved, reference[0], rtol=0.05, atol=0.05)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(chunk_size=0), "chunk_size"),
        (dict(chunk_size=-3), "chunk_size"),
        (dict(chunk_size=2.5), "chunk_size"),
        (dict(keys=torch.zeros(2, 11)), "keys"),
        (dict(values=torch.zeros(2, 10, DIM, dtype=torch.float64)), "values"),
        (dict(queries=torch.zeros(2, 11, DIM + 1, dtype=torch.float64)), "queries"),
        (dict(lr=torch.zeros(2, 12, dtype=torch.float64)), "lr"),
        (dict(momentum=torch.full((2, 11), 1.5, dtype=torch.float64)), "momentum"),
        (dict(forget=-torch.ones(2, 11, dtype=torch.float64)), "forget"),
        (dict(keys=torch.zeros(2, 11, DIM, dtype=torch.int64)), "keys"),
        (dict(values=torch.zeros(2, 11, DIM, dtype=torch.float32)), "values"),
        (dict(params={"weight0": torch.zeros(3, DIM, DIM, dtype=torch.float64)}), "params"),
        (dict(params={}), "params"),
        (dict(surprise={"other": torch.zeros(2, DIM, DIM, dtype=torch.float64)}), "surprise"),
        (dict(lr=[0.1] * 11), "lr"),
        (dict(momentum=torch.full((2, 11), float("nan"), dtype=torch.float64)), r"momentum .*; it holds NaN"),
        (dict(lr=torch.full((2, 11), float("nan"), dtype=torch.float64)), r"lr must be finite and >= 0; it holds NaN"),
        (dict(lr=-torch.ones(2, 11, dtype=torch.float64)), r"lr must be finite and >= 0; it holds values outside"),
        (dict(lr=torch.full((2, 11), float("inf"), dtype=torch.float64)), "lr must be finite"),
        (dict(values=torch.zeros(2, 11, DIM + 1, dtype=torch.float64)), "values"),
        (dict(surprise={"weight0": [0.0]}), r"surprise\['weight0'\]"),
        (dict(params={"weight0": torch.zeros(2, DIM, DIM, dtype=torch.float64),
                      "extra": torch.zeros(2, DIM, dtype=torch.float64)}),
         r"params must hold the weights \['weight0'\]"),
        (dict(params={"weight0": torch.zeros(2, DIM, DIM + 1, dtype=torch.float64)}),
         rf"params\['weight0'\] must have shape \(batch, {DIM}, {DIM}\)"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(change, message):
    inputs = make_inputs(MEMORIES["linear"])
    inputs.update(chunk_size=4)
    inputs.update(change)
    with pytest.raises(ValueError, match=message):
        neural_memory_scan(MEMORIES["linear"], **inputs)


def coefficients_by_definition(lr, momentum, forget, chunk_size):
    """``chunk_coefficients`` for one sequence, written as the products and sums of its docstring."""
    length = lr.shape[0]
    gains, weights = [], []
    for start in range(0, length, chunk_size):
        eta, keep, theta = (t[start:start + chunk_size].tolist() for t in (momentum, 1.0 - forget, lr))
        prod = lambda xs: torch.tensor(xs, dtype=torch.float64).prod().item()  # noqa: E731
        a = [prod(eta[i:]) for i in range(len(eta) + 1)]  # a_i = prod_{l>i} eta_l, positions 0..n
        b = [prod(keep[i:]) for i in range(len(keep) + 1)]
        r = [sum(b[m] * prod(eta[i:m]) for m in range(max(i, 1), len(eta) + 1)) for i in range(len(eta) + 1)]
        pad = chunk_size - len(eta)  # padded positions carry the momentum and add nothing
        gains.append([a[0], r[0], b[0]])
        weights.append([[t * a[i + 1], t * r[i + 1]] for i, t in enumerate(theta)] + [[0.0, 0.0]] * pad)
    return torch.tensor(gains, dtype=torch.float64), torch.tensor(weights, dtype=torch.float64)


@pytest.mark.parametrize(("chunk_size", "length"), [(1, 5), (7, 30), (64, 150)])
def test_chunk_coefficients_match_their_definition(chunk_size, length):
    g = torch.Generator().manual_seed(3)
    lr, momentum, forget = (torch.rand(2, length, generator=g, dtype=torch.float64) for _ in range(3))
    momentum[0, ::5], forget[1, ::7], momentum[1, 3::4] = 0.0, 1.0, 1.0  # exact limits stay exact
    coef = scan_module.chunk_coefficients(lr, momentum, forget, chunk_size)
    for s in range(2):
        gains, weights = coefficients_by_definition(lr[s], momentum[s], forget[s], chunk_size)
        torch.testing.assert_close(coef.state_gains[s], gains, rtol=1e-12, atol=1e-15)
        torch.testing.assert_close(coef.token_weights[s], weights, rtol=1e-12, atol=1e-15)


def test_chunk_coefficients_are_twice_differentiable():
    g = torch.Generator().manual_seed(4)
    gates = [torch.rand(2, 13, generator=g, dtype=torch.float64).requires_grad_() for _ in range(3)]
    assert torch.autograd.gradgradcheck(lambda *t: tuple(scan_module.chunk_coefficients(*t, chunk_size=6)), gates)


def test_a_subclass_that_changes_the_function_takes_the_generic_path():
    class TanhMLP(MemoryMLP):
        def __call__(self, params, x):
            return torch.tanh(super().__call__(params, x))

    memory = TanhMLP(DIM, depth=2, expansion=2.0)
    inputs = make_inputs(memory, length=20)
    expected = token_by_token(generic(memory), **inputs, chunk_size=4)
    assert_all_close(neural_memory_scan(memory, **inputs, chunk_size=4), expected, rtol=1e-10, atol=1e-12)
    inputs["surprise"] = None
    torch.testing.assert_close(neural_memory_scan(memory, **inputs, chunk_size=4)[0],
                               neural_memory_scan(generic(memory), **inputs, chunk_size=4)[0])


def test_a_subclass_that_changes_a_part_of_the_function_takes_the_generic_path():
    class TanhOutputMLP(MemoryMLP):
        """Changes the function through ``_forward``, which the fast path also runs, but not its backward."""

        def _forward(self, layer, norm, x):
            outputs, saved = super()._forward(layer, norm, x)
            return torch.tanh(outputs), saved

    memory = TanhOutputMLP(DIM, depth=2, expansion=2.0)
    inputs = make_inputs(memory, length=20)
    expected = token_by_token(generic(memory), **inputs, chunk_size=4)
    assert_all_close(neural_memory_scan(memory, **inputs, chunk_size=4), expected, rtol=1e-10, atol=1e-12)


def test_an_empty_batch_gives_empty_results():
    memory = MEMORIES["mlp2"]
    inputs = make_inputs(memory, batch=0, length=9)
    retrieved, params, _ = neural_memory_scan(memory, **inputs, chunk_size=4)
    assert retrieved.shape == (0, 9, DIM) and params["weight0"].shape[0] == 0


def test_an_empty_batch_has_gradients_too():
    """Its backward failed: 'cannot reshape tensor of 0 elements into shape [0, -1]'."""
    inputs = make_inputs(MEMORIES["linear"], batch=0)
    gates = {name: inputs[name].requires_grad_() for name in ("lr", "momentum", "forget")}
    retrieved, params, _ = neural_memory_scan(MEMORIES["linear"], **inputs, chunk_size=4)
    (retrieved.sum() + sum(p.sum() for p in params.values())).backward()
    assert all(g.grad.shape == (0, 11) for g in gates.values())


def test_a_module_that_writes_its_own_fast_path_gets_it():
    class Linear(torch.nn.Module, ChunkStepper):
        """A linear memory as a module: its function is ``forward``, its fast path the built-in linear one."""

        def __init__(self):
            super().__init__()
            self.linear, self.steps = MemoryMLP(DIM, depth=1), 0

        def forward(self, params, x):
            return self.linear(params, x)

        def chunk_step(self, *args):
            self.steps += 1
            return self.linear.chunk_step(*args)

    memory = Linear()
    inputs = make_inputs(memory.linear, length=12)
    fast = neural_memory_scan(memory, **inputs, chunk_size=4)
    assert memory.steps == 3
    assert_all_close(fast, neural_memory_scan(generic(memory), **inputs, chunk_size=4), rtol=1e-10, atol=1e-12)


def test_retrieval_alone_checks_its_arguments():
    memory = MEMORIES["mlp2"]
    params = memory.init_params(2, generator=torch.Generator().manual_seed(0))
    assert scan_module.read_memory(memory, params, torch.randn(2, 5, DIM)).shape == (2, 5, DIM)
    for params_, queries, message in (({}, torch.randn(2, 5, DIM), "params must be a non-empty dict"),
                                      (params, torch.randn(5, DIM), r"queries must have shape \(batch, length"),
                                      (params, torch.randn(3, 5, DIM), "the same batch size, got \\[2\\] and 3"),
                                      ({"weight0": params["weight0"]}, torch.randn(2, 5, DIM), "params must hold"),
                                      (params, torch.randn(2, 5, DIM + 1), f"the memory's feature size {DIM}, got"),
                                      (params, torch.ones(2, 5, DIM, dtype=torch.long), "floating-point")):
        with pytest.raises(ValueError, match=message):
            scan_module.read_memory(memory, params_, queries)
    with pytest.raises(ValueError, match="memory_fn must be callable, got NoneType"):
        scan_module.read_memory(None, params, torch.randn(2, 5, DIM))
    with pytest.raises(ValueError, match="memory_fn must be callable, got NoneType"):
        neural_memory_scan(None, **make_inputs(memory), chunk_size=4)


def test_torch_func_grad_goes_through_the_scan_as_autograd_does():
    """Before, the hand-written backward functions (old-style autograd.Functions) refused torch.func transforms."""
    memory = MEMORIES["mlp2"]
    inputs = make_inputs(memory)

    def loss(keys):
        return neural_memory_scan(memory, **{**inputs, "keys": keys}, chunk_size=4)[0].square().sum()

    keys = inputs["keys"].clone().requires_grad_()
    loss(keys).backward()
    torch.testing.assert_close(torch.func.grad(loss)(inputs["keys"]), keys.grad, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("kwargs", "message"), [(dict(dim=0), "dim must be a positive integer"),
                                                 (dict(dim=4, depth=0), "depth must be a positive integer"),
                                                 (dict(dim=4, expansion=0.0), "expansion must be a positive"),
                                                 (dict(dim=4, residual="false"), "residual must be True or False"),
                                                 (dict(dim=4, norm=1), "norm must be True or False")])
def test_memory_mlp_refuses_bad_arguments_by_name(kwargs, message):
    """Before, a flag given as the string "false" read as True."""
    with pytest.raises(ValueError, match=message):
        MemoryMLP(**kwargs)


def scaled_tanh_memory(params, x):
    """A memory with a scalar weight per sequence: params["s"] is (batch,)."""
    return tanh_memory(params, x) * params["s"]


def test_a_memory_with_a_scalar_weight_per_sequence_matches_reference():
    """Its weight's gradient with respect to the gates failed: (x * y).flatten(1) of a (batch,) tensor."""
    g = torch.Generator().manual_seed(2)
    inputs = make_inputs(MEMORIES["linear"], length=7, seed=2)
    inputs["params"] = {"a": torch.randn(2, DIM, 5, generator=g, dtype=torch.float64) * 0.5,
                        "b": torch.randn(2, 5, DIM, generator=g, dtype=torch.float64) * 0.5,
                        "c": torch.zeros(2, DIM, dtype=torch.float64),
                        "s": 1 + 0.1 * torch.randn(2, generator=g, dtype=torch.float64)}
    inputs["surprise"] = {n: 0.01 * torch.randn(p.shape, generator=g, dtype=torch.float64)
                          for n, p in inputs["params"].items()}
    expected = _gradients(lambda **kw: token_by_token(scaled_tanh_memory, **kw), inputs, 3)
    actual = _gradients(lambda **kw: neural_memory_scan(scaled_tanh_memory, **kw), inputs, 3)
    for key in expected:
        assert (actual[key] - expected[key]).abs().max() <= 1e-10 * expected[key].abs().max(), key


@pytest.mark.parametrize(("memory_fn", "got"), [(lambda p, x: torch.tanh(x @ p["w"]), r"\(4,\)"),
                                                 (lambda p, x: (x @ p["w"]).sum(), r"\(\)")])
def test_a_memory_of_another_output_size_than_the_values_is_refused(memory_fn, got):
    keys = torch.randn(2, 5, 4)
    message = rf"memory_fn must map a token to a vector of the values' size 3, got shape {got}"
    with pytest.raises(ValueError, match=message):
        neural_memory_scan(memory_fn, {"w": torch.randn(2, 4, 4)}, keys, torch.randn(2, 5, 3), keys,
                           torch.full((2, 5), 0.1), torch.full((2, 5), 0.5), torch.full((2, 5), 0.1), chunk_size=2)
