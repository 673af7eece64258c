"""A trained model as plain data: graphs of allow-listed aten operations and their weights.

In the student's kernel, :func:`export` traces a model with ``torch.export`` and writes each part
(``encoder`` and ``decoder`` submodules, ``encode`` and ``decode`` methods, ``forward``) as a list
of nodes: an operation's name, its arguments (numbers, lists, other nodes), and the weights by
their name in the model. In the judge, :class:`GradedModel` runs those graphs with trusted code,
calling only operations in ``ALLOWED_OPS``.

Written here rather than loaded with ``torch.export.load``: that function unpickles (its own docs
say never to load an untrusted file) and its deserialiser evaluates the graph's shape expressions
with ``sympy.sympify``. This format holds no code, only names looked up in an allow-list.

The judge composes the parts itself: ``model(x)`` is ``decoder(encoder(x))`` (or
``decode(encode(x))``), so a decoder sees the code and nothing else.
"""

import operator

import numpy as np

from autograder.crossing import CrossingError, torch_named

PARTS = ("encoder", "decoder", "encode", "decode", "forward")
ATEN_OPS = frozenset("""
    linear bilinear matmul mm bmm addmm addmv addbmm baddbmm mv dot outer einsum tensordot
    t numpy_T mT mH adjoint transpose swapaxes swapdims permute movedim view view_as reshape reshape_as
    _unsafe_view flatten unflatten ravel squeeze unsqueeze expand expand_as broadcast_to contiguous clone alias
    detach cat concat concatenate stack hstack vstack split split_with_sizes tensor_split chunk unbind slice
    select index_select index _unsafe_index narrow gather scatter scatter_add masked_fill diagonal tril triu
    repeat repeat_interleave tile flip roll pad constant_pad_nd reflection_pad2d replication_pad2d
    relu relu6 sigmoid tanh gelu silu elu leaky_relu softplus softsign hardtanh hardsigmoid hardswish mish selu
    celu prelu glu threshold logsigmoid log_sigmoid_forward hardshrink softshrink tanhshrink
    softmax log_softmax _softmax _log_softmax logsumexp
    add sub rsub mul div neg pow exp exp2 log log2 log10 log1p expm1 sqrt rsqrt abs sign sgn clamp clamp_min
    clamp_max minimum maximum fmod remainder floor_divide trunc frac sin cos tan asin acos atan atan2 sinh cosh
    erf erfinv reciprocal square where eq ne lt le gt ge logical_not logical_and logical_or logical_xor
    bitwise_not bitwise_and bitwise_or bitwise_xor isnan isinf nan_to_num
    sum mean amax amin max min argmax argmin sort argsort topk norm linalg_vector_norm frobenius_norm var std
    var_mean std_mean prod cumsum cumprod round floor ceil
    conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d convolution _convolution
    max_pool1d max_pool2d max_pool3d max_pool2d_with_indices avg_pool1d avg_pool2d avg_pool3d
    adaptive_avg_pool1d adaptive_avg_pool2d adaptive_max_pool2d upsample_nearest1d upsample_nearest2d
    _upsample_nearest_exact2d upsample_bilinear2d upsample_bicubic2d pixel_shuffle pixel_unshuffle unfold fold
    im2col col2im
    batch_norm _native_batch_norm_legit_no_training native_batch_norm instance_norm layer_norm native_layer_norm
    group_norm native_group_norm dropout feature_dropout alpha_dropout
    embedding scaled_dot_product_attention _native_multi_head_attention _transformer_encoder_layer_fwd
    lstm gru rnn_tanh rnn_relu
    zeros zeros_like ones ones_like full full_like empty empty_like empty_strided new_zeros new_ones new_empty
    new_full arange linspace eye scalar_tensor rand_like randn_like bernoulli
    sym_size sym_numel sym_stride to _to_copy type_as lift_fresh_copy copy fill zero _local_scalar_dense
""".split())
PYTHON_OPS = {"operator.getitem": operator.getitem, "operator.add": operator.add, "operator.sub": operator.sub,
              "operator.mul": operator.mul, "operator.floordiv": operator.floordiv,
              "operator.truediv": operator.truediv, "operator.neg": operator.neg}
MAX_NODES = 5000


def _torch():
    import torch

    return torch


def op_name(target) -> str:
    """The name of a graph node's target as this format writes it: ``aten.linear.default``, ``operator.mul``."""
    torch = _torch()
    if isinstance(target, torch._ops.OpOverload):
        return f"{target.namespace}.{target._schema.name.split('::')[-1]}.{target._overloadname}"
    module = getattr(target, "__module__", "") or ""
    if module in ("_operator", "operator"):
        return f"operator.{target.__name__}"
    return f"{module}.{getattr(target, '__name__', target)}"


def resolve(name: str):
    """The callable behind an allow-listed operation name; :class:`CrossingError` for any other."""
    if name in PYTHON_OPS:
        return PYTHON_OPS[name]
    parts = name.split(".")
    known = len(parts) == 3 and (parts[1] in ATEN_OPS or parts[1].endswith("_") and parts[1][:-1] in ATEN_OPS)
    if not known or parts[0] != "aten" or not parts[2].isidentifier():
        raise CrossingError(f"the model uses {name}, which the grader does not run; keep to torch's layers and "
                            f"tensor operations")
    try:
        return getattr(getattr(_torch().ops.aten, parts[1]), parts[2])
    except AttributeError:
        raise CrossingError(f"unknown operation {name}") from None


# ---- in the student's kernel ---------------------------------------------------------------------------


def _as_batch(example):
    """Two rows of ``example`` (an array or tensor) as a float tensor, to trace a model with."""
    torch = _torch()
    if example is None:
        raise CrossingError("a model can only be graded when the function that returns it gets the data as an array")
    tensor = torch.as_tensor(np.asarray(example) if not isinstance(example, torch.Tensor) else example.detach().cpu())
    if tensor.ndim == 0 or len(tensor) < 1:
        raise CrossingError("a model can only be graded when the data it is given has at least one row")
    rows = tensor[:2] if len(tensor) >= 2 else tensor[:1].repeat(2, *[1] * (tensor.ndim - 1))
    return rows.float() if tensor.is_floating_point() else rows


def _callable_parts(model) -> dict:
    """The model's parts that the judge may call (submodules or methods), each a function of one batch."""
    return {name: getattr(model, name) for name in ("encoder", "decoder", "encode", "decode")
            if callable(getattr(model, name, None))}


class _Method(_torch().nn.Module):
    """``model.<name>(x)`` as a module of its own, so that torch.export traces that part with the
    weights named as in the whole model (shared weights stay one weight)."""

    def __init__(self, model, name):
        super().__init__()
        self.model, self.name = model, name

    def forward(self, x):
        return getattr(self.model, self.name)(x)


def _trace(module, x, writer, names: dict) -> dict:
    """One part as ``{"nodes": [...], "output": ...}``; its weights go into ``writer``'s arrays."""
    torch = _torch()
    batch = torch.export.Dim("batch", min=1)
    program, failure = None, None
    for strict in (False, True):  # the strict tracer (TorchDynamo) follows len(x) without fixing the batch size
        try:
            program = torch.export.export(module, (x,), dynamic_shapes=({0: batch},), strict=strict)
            break
        except Exception as err:
            failure = failure or err
    if program is None:
        if "specialized it to be a constant" in str(failure):
            raise CrossingError("the model works only for one batch size, so it cannot be graded: its code fixes "
                                "the number of rows (x.view(2, ...), say); use -1 there, or x.flatten(1)")
        raise CrossingError(f"the model could not be traced for grading ({type(failure).__name__}: "
                            f"{str(failure).splitlines()[0][:200]}); keep its forward to torch operations, "
                            f"without Python branches on tensor values")
    signature = program.graph_signature
    if signature.buffers_to_mutate or getattr(signature, "user_inputs_to_mutate", None):
        raise CrossingError("the model changes its own buffers when it runs, even in eval mode; it cannot be graded")
    state = {**program.state_dict, **program.constants}
    sources = {**signature.inputs_to_parameters, **signature.inputs_to_buffers,
               **signature.inputs_to_lifted_tensor_constants}
    nodes, inputs = [], []
    for node in program.graph.nodes:
        if node.op == "placeholder":
            if node.name in sources:
                fqn = sources[node.name]
                if fqn not in names:
                    tensor = state[sources[node.name]]
                    if not isinstance(tensor, torch.Tensor):
                        raise CrossingError("the model holds a constant that is not a tensor; it cannot be graded")
                    names[fqn] = {"array": writer.array(tensor.detach().cpu().numpy()),
                                  "parameter": node.name in signature.inputs_to_parameters,
                                  "trainable": bool(getattr(tensor, "requires_grad", False))}
                nodes.append({"name": node.name, "weight": fqn})
            else:
                inputs.append(node.name)
                nodes.append({"name": node.name, "input": len(inputs) - 1})
        elif node.op == "call_function":
            nodes.append({"name": node.name, "op": op_name(node.target), "args": _arg(node.args),
                          "kwargs": {k: _arg(v) for k, v in node.kwargs.items()}})
            resolve(nodes[-1]["op"])  # refuse at once what the judge would refuse
        elif node.op == "output":
            outputs = node.args[0]
            user = outputs[len(outputs) - len(signature.user_outputs):] if isinstance(outputs, (tuple, list)) else outputs
            return {"nodes": nodes, "output": _arg(user[0] if len(user) == 1 else tuple(user))}
        else:
            raise CrossingError(f"the model's graph has a {node.op} node; it cannot be graded")
    raise CrossingError("the model's graph has no output")


def _arg(value):
    """A node argument as plain data."""
    torch = _torch()
    if isinstance(value, torch.fx.Node):
        return {"node": value.name}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return {"list": [_arg(v) for v in value]}
    if isinstance(value, torch.dtype):
        return {"dtype": str(value).removeprefix("torch.")}
    if isinstance(value, torch.device):
        return {"device": "cpu"}
    if isinstance(value, (torch.layout, torch.memory_format)):
        return {type(value).__name__: str(value).removeprefix("torch.")}
    raise CrossingError(f"the model's graph has an argument of type {type(value).__name__}; it cannot be graded")


def export(model, example, writer) -> dict:
    """The parts of ``model`` (an nn.Module) traced on two rows of ``example``, as plain data.

    Each of ``encoder``, ``encode``, ``decoder`` (on the encoder's code) and ``decode`` (on
    ``encode``'s) that the model has and that traces; ``forward`` too where no pair is complete.
    """
    torch = _torch()
    model = model.cpu().eval()
    x = _as_batch(example)
    names, parts, codes, failures = {}, {}, {}, []
    with torch.no_grad():
        callables = _callable_parts(model)
        for name, source in (("encoder", None), ("encode", None), ("decoder", "encoder"), ("decode", "encode")):
            if name not in callables or (source is not None and not isinstance(codes.get(source), torch.Tensor)):
                continue
            given = x if source is None else codes[source]
            try:
                output = callables[name](given)  # a part that fails on the data is not traced (and costs no tracing)
            except Exception as err:
                failures.append(CrossingError(f"model.{name} fails on the data ({type(err).__name__}: {str(err)[:200]})"))
                continue
            try:
                parts[name] = _trace(_Method(model, name), given, writer, names)
                if source is None:
                    codes[name] = output
            except CrossingError as err:
                failures.append(err)
        if not ({"encoder", "decoder"} <= set(parts) or {"encode", "decode"} <= set(parts)):
            try:
                parts["forward"] = _trace(_Method(model, "forward"), x, writer, names)
            except CrossingError as err:
                raise (failures[-1] if failures else err) from None
    return {"parts": parts, "weights": names}


# ---- in the judge --------------------------------------------------------------------------------------


class _Graph(_torch().nn.Module):
    """One part of a graded model: its graph, run on the weights of the model it belongs to."""

    def __init__(self, graph: dict, owner):
        super().__init__()
        nodes = graph.get("nodes") if isinstance(graph, dict) else None
        if not isinstance(nodes, list) or len(nodes) > MAX_NODES:
            raise CrossingError("the model's graph is not in the grader's format")
        self._nodes = [self._check(node) for node in nodes]
        self._output = graph.get("output")
        self._owner = [owner]  # a list, so that the owner is not registered as a child module

    @staticmethod
    def _check(node):
        if not isinstance(node, dict) or not isinstance(node.get("name"), str):
            raise CrossingError("the model's graph is not in the grader's format")
        if "op" in node:
            node = {**node, "fn": resolve(str(node["op"]))}
        return node

    def forward(self, *inputs):
        torch = _torch()
        owner, env = self._owner[0], {}

        def value(arg):
            if isinstance(arg, dict):
                kind, body = next(iter(arg.items()))
                if kind == "node":
                    if body not in env:
                        raise CrossingError("the model's graph uses a value before computing it")
                    return env[body]
                if kind == "list":
                    return [value(v) for v in body]
                if kind == "dtype":
                    return torch_named(body, torch.dtype)
                if kind == "device":
                    return next(iter(owner.parameters()), torch.empty(0)).device
                if kind in ("layout", "memory_format"):
                    return torch_named(body, (torch.layout, torch.memory_format))
                raise CrossingError("the model's graph is not in the grader's format")
            return arg

        for node in self._nodes:
            if "weight" in node:
                env[node["name"]] = owner.weight(node["weight"])
            elif "input" in node:
                env[node["name"]] = inputs[int(node["input"])]
            else:
                kwargs = {str(k): value(v) for k, v in node.get("kwargs", {}).items()}
                env[node["name"]] = node["fn"](*value(node.get("args", {"list": []})), **kwargs)
        result = value(self._output)
        return tuple(result) if isinstance(result, list) else result


class GradedModel(_torch().nn.Module):
    """A student's trained model, rebuilt in the judge from :func:`export`'s plain data.

    ``encoder``/``decoder`` (modules) and ``encode``/``decode`` (methods) are there where the
    student's model had them; ``model(x)`` runs ``decode`` on ``encode``'s code (or ``decoder`` on
    ``encoder``'s), the exported forward only where the model has no such pair. ``parameters()``
    lists each weight once.
    """

    def __init__(self, parts: dict, weights: dict):
        """``weights``: the model's tensors by name, ``nn.Parameter`` for its parameters, plain tensors for
        its buffers (running statistics, constants)."""
        super().__init__()
        torch = _torch()
        self._keys = {}
        self.weights = torch.nn.ParameterDict()
        self.constants = torch.nn.Module()
        for i, (fqn, tensor) in enumerate(weights.items()):
            self._keys[fqn] = key = f"w{i}"
            if isinstance(tensor, torch.nn.Parameter):
                self.weights[key] = tensor
            else:
                self.constants.register_buffer(key, tensor)
        self.graphs = {name: _Graph(graph, self) for name, graph in parts.items()}  # not modules: no weights of their own
        for name in ("encoder", "decoder"):
            if name in parts:
                self.add_module(name, _Bound(self.graphs[name]))

    @classmethod
    def from_manifest(cls, body, reader) -> "GradedModel":
        torch = _torch()
        if not isinstance(body, dict) or not isinstance(body.get("parts"), dict) or not isinstance(body.get("weights"), dict):
            raise CrossingError("the model is not in the grader's format")
        unknown = set(body["parts"]) - set(PARTS)
        if unknown:
            raise CrossingError(f"the model has parts the grader does not know: {sorted(unknown)}")
        weights = {}
        for fqn, spec in body["weights"].items():
            tensor = torch.from_numpy(np.array(reader.array(spec.get("array"))))
            trainable = bool(spec.get("trainable")) and tensor.is_floating_point()
            parameter = bool(spec.get("parameter")) and tensor.is_floating_point()
            weights[str(fqn)] = torch.nn.Parameter(tensor, requires_grad=trainable) if parameter else tensor
        return cls(body["parts"], weights)

    def weight(self, fqn: str):
        key = self._keys.get(fqn)
        if key is None:
            raise CrossingError("the model's graph uses a weight it does not hold")
        return self.weights[key] if key in self.weights else getattr(self.constants, key)

    def has(self, part: str) -> bool:
        return part in self.graphs

    def _part(self, method: str, module: str):
        """The graph of ``method`` (``encode``), else of the submodule ``module`` (``encoder``)."""
        for name in (method, module):
            if name in self.graphs:
                return self.graphs[name]
        raise AttributeError(f"the model has no {method}(x) method or {module} submodule that could be graded: "
                             f"give it an `{module}` and a `{'decoder' if module == 'encoder' else 'encoder'}` "
                             f"(nn.Module attributes), or `encode` and `decode` methods")

    def encode(self, x):
        return self._part("encode", "encoder")(x)

    def decode(self, h):
        return self._part("decode", "decoder")(h)

    def forward(self, x):
        if self.has("encode") and self.has("decode"):
            return self.graphs["decode"](self.graphs["encode"](x))
        if self.has("encoder") and self.has("decoder"):
            return self.graphs["decoder"](self.graphs["encoder"](x))
        return self.graphs["forward"](x)

    def train(self, mode: bool = True):  # the graphs were traced in eval mode; there is nothing to switch
        self.training = mode
        return self


class _Bound(_torch().nn.Module):
    """``model.encoder`` / ``model.decoder`` of a graded model: calls its part's graph."""

    def __init__(self, graph):
        super().__init__()
        self._graph = [graph]

    def forward(self, x):
        return self._graph[0](x)
