"""Graph-backed models: SavedModel directories and frozen GraphDef files as differentiable functions.

    graph = load("exported_dir")                  # or a frozen .pb; its ops are checked first
    graph.inputs, graph.outputs, graph.tensors()  # names, shapes, dtypes
    graph.squash("probs")                         # Squash("softmax", logits="dense/BiasAdd")
    fn = graph.function(["conv3/LeakyRelu", OUTPUT], output="probs", logits=True)
    model = as_keras_model(graph, input_shape=(16000,))   # for code that takes a keras.Model

Nothing in a file runs while it is opened but what TensorFlow's loader does to restore it (variables,
initializers), and that only after every op of its graph and functions passed the allowlist below.
A SavedModel's signature is frozen (variables become constants, every function call is inlined)
into one flat graph, imported once and pruned per set of fetched tensors. Inner tensors keep the
names the model gave them (``sequential/conv1/Relu``), without the inlined call's prefix.
"""

import contextlib
import dataclasses
import difflib
import logging
import os
import re
import tempfile
import zipfile

import keras
import tensorflow as tf
from google.protobuf.message import DecodeError
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.framework.convert_to_constants import (
    convert_variables_to_constants_v2_as_graph,
)

from tfam.objectives import OUTPUT

INPUT_NODE = "input"  # the frozen graphs of seed 002 (and tfam's freeze_graph.py)
OUTPUT_NODE = "fc2/fully_connected/fc_out"
REDUCTIONS = ("mean", "max")
TAKES = "tfam takes .keras and .h5 files, SavedModel directories and frozen GraphDef .pb files"

# The op policy is an allowlist: a graph is a program, and a denylist would let through every
# file-, network- or script-touching op it forgot (or that a later TensorFlow adds; even PrintV2 can
# write to a file). These ops compute on tensors in memory: math, neural-net and array ops, variables,
# function calls and control flow (whose bodies are checked as functions of their own).
_PURE_OPS = frozenset(
    """
    Placeholder PlaceholderWithDefault Const Identity IdentityN NoOp StopGradient PreventGradient
    Snapshot EnsureShape CheckNumerics Assert
    VarHandleOp ReadVariableOp VarIsInitializedOp AssignVariableOp AssignAddVariableOp
    AssignSubVariableOp ResourceGather VariableV2 Variable Assign IsVariableInitialized
    PartitionedCall StatefulPartitionedCall While StatelessWhile If StatelessIf Case StatelessCase
    Enter Exit Merge Switch NextIteration LoopCond ControlTrigger
    EmptyTensorList TensorListReserve TensorListSetItem TensorListGetItem TensorListStack
    TensorListFromTensor TensorListElementShape TensorListLength TensorListPushBack
    TensorListPopBack TensorListConcatV2 TensorListSplit TensorArrayV3 TensorArrayReadV3
    TensorArrayWriteV3 TensorArrayGatherV3 TensorArrayScatterV3 TensorArraySizeV3
    TensorArrayConcatV3 TensorArraySplitV3 TensorArrayGradV3
    Abs Acos Acosh Add AddN AddV2 Asin Asinh Atan Atan2 Atanh BiasAdd BiasAddV1 Cast Ceil
    ClipByValue Complex ComplexAbs Conj Cos Cosh Digamma Div DivNoNan Elu Equal Erf Erfc Erfinv Exp
    Expm1 Floor FloorDiv FloorMod Greater GreaterEqual Imag Inv IsFinite IsInf IsNan LeakyRelu Less
    LessEqual Lgamma Log Log1p LogicalAnd LogicalNot LogicalOr LogSoftmax Maximum Minimum Mod Mul
    MulNoNan Neg NotEqual Pow Real RealDiv Reciprocal Relu Relu6 Rint Round Rsqrt Select SelectV2
    Selu Sigmoid Sign Sin Sinh Softmax Softplus Softsign Sqrt Square SquaredDifference Sub Tan Tanh
    TruncateDiv TruncateMod Xdivy Xlogy Xlog1py BitwiseAnd BitwiseOr BitwiseXor LeftShift RightShift
    All Any ArgMax ArgMin BatchMatMul BatchMatMulV2 BatchMatMulV3 Cumsum Cumprod Einsum MatMul Max
    Mean Min Prod Sum EuclideanNorm L2Loss MatrixBandPart MatrixDiag MatrixDiagV3 MatrixDiagPartV3
    MatrixSetDiagV3 TopKV2 SegmentSum UnsortedSegmentSum UnsortedSegmentMax Bucketize
    AvgPool AvgPool3D Conv2D Conv2DBackpropInput Conv3D Conv3DBackpropInputV2 DepthwiseConv2dNative
    DepthwiseConv2dNativeBackpropInput Dilation2D FusedBatchNorm FusedBatchNormV2 FusedBatchNormV3
    LRN MaxPool MaxPoolV2 MaxPool3D ResizeBilinear ResizeNearestNeighbor ResizeBicubic ResizeArea
    FakeQuantWithMinMaxVars FakeQuantWithMinMaxArgs QuantizeAndDequantizeV2 QuantizeAndDequantizeV3
    RFFT IRFFT FFT IFFT RFFT2D IRFFT2D FFT2D IFFT2D AudioSpectrogram Mfcc
    BatchToSpaceND Bitcast BroadcastArgs BroadcastGradientArgs BroadcastTo Concat ConcatV2
    ConcatOffset DepthToSpace SpaceToDepth SpaceToBatchND Diag DiagPart Empty ExpandDims
    ExtractImagePatches Fill Gather GatherNd GatherV2 InvertPermutation LinSpace MirrorPad OneHot
    OnesLike Pack Pad PadV2 Range Rank Reshape Reverse ReverseV2 ReverseSequence Roll ScatterNd
    Shape ShapeN Size Slice Split SplitV Squeeze StridedSlice TensorScatterUpdate TensorScatterAdd
    Tile Transpose Unique Unpack Where ZerosLike UpperBound LowerBound
    RandomUniform RandomStandardNormal TruncatedNormal RandomUniformInt StatelessRandomUniformV2
    StatelessRandomNormalV2 StatelessTruncatedNormalV2 StatelessRandomGetKeyCounter
""".split()
)
# Variable saving and restoring, allowed only in the graph parts that the SavedModel's saver_def
# names (tfam never runs the save part; a TF1 SavedModel's restore part runs when it is loaded).
_SAVE_OPS = frozenset(
    "SaveV2 MergeV2Checkpoints ShardedFilename StringJoin StaticRegexFullMatch "
    "DisableCopyOnRead".split()
)
_RESTORE_OPS = frozenset("RestoreV2 AssignVariableOp Assign DisableCopyOnRead".split())
_SQUASHES = {"Softmax": "softmax", "Sigmoid": "sigmoid"}
_PASS_THROUGH = frozenset({"Identity", "IdentityN", "Snapshot", "StopGradient"})
_NOT_LISTED = _PASS_THROUGH | {"Placeholder", "PlaceholderWithDefault", "Const", "NoOp"}
_CALL_PREFIX = re.compile(r"^(StatefulPartitionedCall(_\d+)?/)+")


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    name: str  # an output key, a placeholder or an op output ('conv3/LeakyRelu', 'split:1')
    shape: tuple | None  # None: unknown rank; None inside: unknown size (the batch axis first)
    dtype: str
    op: str = ""  # the type of the op that makes it


@dataclasses.dataclass(frozen=True)
class Squash:
    kind: str  # "softmax" or "sigmoid"
    logits: str  # the tensor the squash is applied to


# -- what a file is --------------------------------------------------------------------------------


def _not_a_model(path, what, hint=""):
    return ValueError(f"{path} is {what}, not a model tfam can differentiate{hint}; {TAKES}")


def sniff(path):
    """'keras', 'h5', 'saved_model' or 'graph_def'; a ValueError naming what else the file is."""
    return identify(path)[0]


def identify(path):
    """(kind, the parsed GraphDef for a 'graph_def', else None): give it to ``load`` so that a
    large .pb is parsed once."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no model at {path}")
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "saved_model.pb")):
            return "saved_model", None
        if path.rstrip("/").endswith(".mlpackage") or os.path.exists(
            os.path.join(path, "Manifest.json")
        ):
            raise _not_a_model(path, "a Core ML package")
        raise _not_a_model(path, "a directory without saved_model.pb")
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "h5", None
    if head[4:8] == b"TFL3":
        raise _not_a_model(
            path, "a TensorFlow Lite flatbuffer", " (convert the model it was made from)"
        )
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if "config.json" in names:
            return "keras", None
        if any(name == "data.pkl" or name.endswith("/data.pkl") for name in names):
            raise _not_a_model(path, "a PyTorch checkpoint", " (export it to a SavedModel first)")
        raise _not_a_model(path, "a zip archive")
    suffix = os.path.splitext(path)[1].lower()
    if suffix in (".keras", ".h5", ".hdf5"):  # named as a Keras file, but not one: say so
        container = "a zip archive" if suffix == ".keras" else "an HDF5 file"
        raise ValueError(
            f"cannot load the model {path}: a {suffix} file is {container}, and this one is "
            "not (corrupt or truncated?)"
        )
    if head[:1] == b"\x80" and 2 <= head[1] <= 5:  # pickle protocol 2 to 5
        raise _not_a_model(
            path, "a Python pickle (e.g. a PyTorch .pt/.pth file)", "; tfam does not unpickle files"
        )
    if os.path.basename(path) == "saved_model.pb":
        raise _not_a_model(path, "part of a SavedModel", " (give its directory)")
    if (
        path.endswith(".onnx") or head[:1] == b"\x08"
    ):  # ONNX opens with ir_version (field 1, varint)
        raise _not_a_model(path, "an ONNX model", " (convert it to a SavedModel first)")
    return "graph_def", _read_graph_def(path)


def _read_graph_def(path):
    with open(path, "rb") as f:
        data = f.read()
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(data)
    except DecodeError:
        graph_def.Clear()
    if not graph_def.node:  # an empty or foreign file can parse as an empty message
        raise _not_a_model(path, "an unknown kind of file" if data else "an empty file")
    return graph_def


# -- the op policy ---------------------------------------------------------------------------------


def _base(ref):
    """'^name', 'name:1' -> 'name' (node inputs name tensors or control dependencies)."""
    return ref.lstrip("^").split(":")[0]


def _calls(nodes):
    """The names of the functions that these nodes call (attributes of type func or list of func)."""
    for node in nodes:
        for value in node.attr.values():
            if value.HasField("func"):
                yield value.func.name
            yield from (f.name for f in value.list.func)


def _ancestors(nodes, root):
    """The names of ``root`` (a node or tensor name) and of every node it depends on."""
    inputs = {node.name: [_base(ref) for ref in node.input] for node in nodes}
    seen, todo = set(), [_base(root)]
    while todo:
        name = todo.pop()
        if name not in seen and name in inputs:
            seen.add(name)
            todo.extend(inputs[name])
    return seen


def _closure(functions, library):
    """These functions and every function they call, transitively."""
    seen, todo = set(), list(functions)
    while todo:
        name = todo.pop()
        if name not in seen and name in library:
            seen.add(name)
            todo.extend(_calls(library[name].node_def))
    return seen


def check_ops(graph_def, saver_def=None):
    """Raise ValueError naming the first op (and the function it is in) outside the allowlist.
    ``saver_def``: a SavedModel's saver, whose save and restore parts may also save and restore
    variables (a function that the rest of the graph calls too is held to the allowlist alone)."""
    library = {f.signature.name: f for f in graph_def.library.function}
    nodes = list(graph_def.node)
    save = _ancestors(nodes, saver_def.save_tensor_name) if saver_def else set()
    restore = _ancestors(nodes, saver_def.restore_op_name) if saver_def else set()
    strict = _closure(_calls(n for n in nodes if n.name not in save | restore), library)
    save_functions = _closure(_calls(n for n in nodes if n.name in save), library) - strict
    restore_functions = _closure(_calls(n for n in nodes if n.name in restore), library) - strict

    def allowed(saving, restoring):
        return _PURE_OPS | (_SAVE_OPS if saving else set()) | (_RESTORE_OPS if restoring else set())

    checks = [
        (node, "the graph", allowed(node.name in save, node.name in restore)) for node in nodes
    ]
    for name, function in library.items():
        ops = allowed(name in save_functions, name in restore_functions)
        checks += [(node, f"function {name}", ops) for node in function.node_def]
    for node, where, ops in checks:
        if node.op not in ops:
            raise ValueError(
                f"refusing to run the model: {where} holds the op {node.op} (node "
                f"{node.name!r}), which is not on tfam's list of pure computation (such "
                "an op may read or write files, talk to the network or run a script); "
                "give --unsafe-load (unsafe=True) if you trust the file"
            )


# -- reading the files (nothing in them runs) -----------------------------------------------------


def _first_line(error):
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


@contextlib.contextmanager
def _quiet_tensorflow():
    """TensorFlow's Python logger at ERROR: the optimizer's unrestored slot values are expected."""
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _read_saved_model(path):
    """The SavedModel proto and the meta graph that loading it uses (the only one, or 'serve')."""
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        try:
            proto.ParseFromString(f.read())
        except DecodeError:
            raise ValueError(
                f"{path}: saved_model.pb is not a SavedModel (it does not parse)"
            ) from None
    graphs = list(proto.meta_graphs)
    if len(graphs) != 1:
        graphs = [g for g in graphs if "serve" in g.meta_info_def.tags]
    if len(graphs) != 1:
        raise ValueError(
            f"{path} holds {len(proto.meta_graphs)} graphs, {len(graphs)} of them "
            "tagged 'serve'; tfam needs one"
        )
    return proto, graphs[0]


def _restore(path, proto, meta_graph):
    """tf.saved_model.load without the optimizer. A Keras 2 (OptimizerV2) optimizer's slot
    variables are revived through Keras 2's ``add_slot``; without tf_keras (TF >= 2.16) that fails
    with "'_UserObject' object has no attribute 'add_slot'". Inference never needs them, so the
    proto read above (in memory) loses them and is loaded from a temporary directory that links
    to the original variables and assets: the user's directory is only read."""
    tags = list(meta_graph.meta_info_def.tags) or None
    optimizers = [
        node
        for node in meta_graph.object_graph_def.nodes
        if node.slot_variables or node.user_object.identifier == "optimizer"
    ]
    if not optimizers:
        return tf.saved_model.load(path, tags)
    for node in optimizers:
        del node.slot_variables[:]
        node.user_object.identifier = (
            "_generic_user_object"  # else the loader imports Keras 2 for it
        )
    with tempfile.TemporaryDirectory(prefix="tfam-saved-model-") as copy:
        for entry in os.listdir(path):
            if entry != "saved_model.pb":
                os.symlink(os.path.abspath(os.path.join(path, entry)), os.path.join(copy, entry))
        with open(os.path.join(copy, "saved_model.pb"), "wb") as f:
            f.write(proto.SerializeToString())
        with _quiet_tensorflow():
            return tf.saved_model.load(copy, tags)


def _short_names(graph_def):
    """Inlining prefixes every inner node with its call's name ('StatefulPartitionedCall/'): drop
    the prefix, so that tensors read as the model named them, where the short name is free."""
    taken, short = {node.name for node in graph_def.node}, {}
    for node in graph_def.node:
        name = _CALL_PREFIX.sub("", node.name)
        if name not in taken:
            short[node.name] = name
            taken.add(name)
    for node in graph_def.node:
        node.name = short.get(node.name, node.name)
        for i, ref in enumerate(node.input):
            name = _base(ref)
            node.input[i] = ref.replace(name, short.get(name, name), 1)
        if "_class" in node.attr:  # colocation with other nodes: b"loc:@name"
            places = node.attr["_class"].list.s
            places[:] = [
                b"loc:@" + short.get(p[5:].decode(), p[5:].decode()).encode() for p in places
            ]


def _saved_model_graph(path, signature, unsafe):
    """(flat graph_def, {input key: tensor}, {output key: tensor}) of a SavedModel's signature."""
    proto, meta_graph = _read_saved_model(path)
    saver = meta_graph.saver_def if meta_graph.HasField("saver_def") else None
    if not unsafe:
        check_ops(meta_graph.graph_def, saver)
    try:
        loaded = _restore(path, proto, meta_graph)
    except Exception as error:  # TensorFlow raises many kinds; the user needs one clear line
        raise ValueError(f"cannot load the SavedModel {path}: {_first_line(error)}") from None
    signatures = dict(loaded.signatures)
    if signature is None:
        signature = next(iter(signatures)) if len(signatures) == 1 else "serving_default"
    if signature not in signatures:
        raise ValueError(
            f"{path} has no signature {signature!r}; its signatures: "
            f"{', '.join(signatures) or 'none'}"
        )
    fn = signatures[signature]
    frozen, graph_def = convert_variables_to_constants_v2_as_graph(fn)
    # a signature takes keyword arguments and returns a dict; both flatten in sorted key order
    inputs = dict(zip(sorted(fn.structured_input_signature[1]), (t.name for t in frozen.inputs)))
    outputs = dict(zip(sorted(fn.structured_outputs), (t.name for t in frozen.outputs)))
    _short_names(graph_def)
    return graph_def, inputs, outputs


def _pick(path, graph_def, which, name, default, candidates):
    """The node named ``name``; unnamed: ``default`` if the graph has it, else the only candidate."""
    names = {node.name for node in graph_def.node}
    if name is None:
        name = default if default in names or len(candidates) != 1 else candidates[0]
    if name not in names:
        raise ValueError(
            f"{path} has no {which} node {name!r}; candidates: "
            f"{', '.join(candidates[:8]) or 'none'}"
        )
    return name


def _frozen_graph(path, graph_def, input_node, output_node, unsafe):
    """(graph_def, {input: tensor}, {output: tensor}) of a frozen GraphDef file."""
    if not unsafe:
        check_ops(graph_def)
    ops = {node.name: node.op for node in graph_def.node}
    if {"VariableV2", "VarHandleOp", "Variable"} & set(ops.values()):
        raise ValueError(
            f"{path} holds variables, so it needs a checkpoint: freeze it first, or "
            "give tfam the SavedModel"
        )
    read = {_base(ref) for node in graph_def.node for ref in node.input}
    placeholders = [name for name, op in ops.items() if op == "Placeholder"]
    ends = [
        name for name, op in ops.items() if name not in read and op not in ("NoOp", "Placeholder")
    ]
    x = _pick(path, graph_def, "input", input_node, INPUT_NODE, placeholders)
    y = _pick(path, graph_def, "output", output_node, OUTPUT_NODE, ends)
    if ops[x] != "Placeholder":
        raise ValueError(f"{path}: input node {x!r} is a {ops[x]}, not a Placeholder")
    return graph_def, {x: f"{x}:0"}, {y: f"{y}:0"}


def _free_batch(graph_def, inputs):
    """Leave the batch axis of the inputs open: a graph exported for batches of 1 is fed more rows."""
    names = {_base(t) for t in inputs.values()}
    for node in graph_def.node:
        if node.name in names and node.attr["shape"].shape.dim:
            node.attr["shape"].shape.dim[0].size = -1


# -- the model -------------------------------------------------------------------------------------


def _display(tensor):
    """An op's first output by the op's name ('conv3/LeakyRelu'), the others as 'split:1'."""
    return tensor.op.name if tensor.value_index == 0 else tensor.name


def _info(name, tensor):
    shape = None if tensor.shape.rank is None else tuple(tensor.shape.as_list())
    return TensorInfo(name, shape, tensor.dtype.name, tensor.op.type)


class GraphModel:
    """A SavedModel signature or a frozen GraphDef, imported once as one flat graph."""

    def __init__(self, graph_def, inputs, outputs, path, kind):
        self.path, self.kind = path, kind
        _free_batch(graph_def, inputs)
        try:
            self._wrapped = tf.compat.v1.wrap_function(
                lambda: tf.graph_util.import_graph_def(graph_def, name=""), []
            )
        except (ValueError, tf.errors.OpError) as error:  # unknown ops, broken references
            raise ValueError(f"{path}: cannot import the graph: {_first_line(error)}") from None
        self._keys = {**inputs, **outputs}  # input and output names -> tensor names
        self.inputs = tuple(_info(key, self._tensor(key)) for key in inputs)
        self.outputs = tuple(_info(key, self._tensor(key)) for key in outputs)
        self._pruned = {}  # fetched tensor names -> the pruned function

    def __repr__(self):
        return f"GraphModel({self.path!r}, {self.kind})"

    def _tensor(self, name):
        ref = self._keys.get(name, name)
        try:
            return self._wrapped.graph.get_tensor_by_name(ref if ":" in ref else f"{ref}:0")
        except (KeyError, ValueError):
            known = list(self._keys) + [t.name for t in self.tensors()]
            close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
            raise ValueError(
                f"{self.path} has no tensor {name!r}"
                + (f"; close names: {', '.join(close)}" if close else "")
                + " (tensors() lists them)"
            ) from None

    def tensor_info(self, name):
        """TensorInfo of an output, input or inner tensor by name."""
        return _info(name, self._tensor(name))

    def cam_tensors(self, output=None):
        """[name] of the tensor a CAM method reads by default for ``output``: walking back from
        it through the data path, the last convolution met, taken after its elementwise tail
        (bias, activation, batch norm); [] when the walk meets none."""
        tensor, path = self._tensor(self.output_name(output)), []
        while True:
            path.append(tensor)
            if tensor.op.type in _CONVOLUTIONS:
                break
            data = [
                t
                for t in tensor.op.inputs
                if t.dtype.is_floating and t.op.type not in _CONSTANT_OPS
            ]
            if not data:
                return []
            tensor = data[0]
        at = len(path) - 1  # the convolution; forward through its tail
        while at > 0 and path[at - 1].op.type in _CONV_TAIL:
            at -= 1
        return [_display(path[at])]

    def feature_tensors(self, dense=False):
        """Names of the output of every convolution (and with ``dense`` every matrix product), taken
        after its elementwise tail (bias, activation, batch norm), in the graph's order: the
        tensors whose channels an atlas dreams."""
        kinds = _CONVOLUTIONS | ({"MatMul", "BatchMatMulV2"} if dense else set())
        found = []
        for op in self._wrapped.graph.get_operations():
            if op.type not in kinds or op.name.startswith("Func/"):
                continue
            tensor = op.outputs[0]
            while len(tensor.consumers()) == 1 and tensor.consumers()[0].type in _CONV_TAIL:
                tensor = tensor.consumers()[0].outputs[0]
            found.append(_display(tensor))
        return found

    def tensors(self, match=None):
        """The inner tensors objectives can name: float, with a batch axis, not constants, inputs or
        pass-through copies; ``match``: only names containing it."""
        found = []
        for op in self._wrapped.graph.get_operations():
            if op.type in _NOT_LISTED or op.name.startswith("Func/"):
                continue
            for tensor in op.outputs:
                if tensor.dtype.is_floating and tensor.shape.rank and tensor.shape[0] is None:
                    name = _display(tensor)
                    if match is None or match in name:
                        found.append(_info(name, tensor))
        return found

    def output_name(self, output=None):
        """The output called ``output``; None: the only one."""
        names = [o.name for o in self.outputs]
        if output is None and len(names) == 1:
            return names[0]
        if output not in names:
            asked = "several outputs; choose one" if output is None else f"no output {output!r}"
            raise ValueError(f"{self.path} has {asked}: {', '.join(names)}")
        return output

    def squash(self, output=None):
        """Squash(kind, logits) when the output ends in a Softmax or Sigmoid op (through Identity
        ops), else None. Class objectives should rise on the logits, not on the squashed values."""
        tensor = self._tensor(self.output_name(output))
        while tensor.op.type in _PASS_THROUGH and tensor.op.inputs:
            tensor = tensor.op.inputs[tensor.value_index]
        kind = _SQUASHES.get(tensor.op.type)
        return Squash(kind, _display(tensor.op.inputs[0])) if kind else None

    def function(self, names, output=None, reduce="mean", logits=False):
        """A differentiable function x -> [one tensor per name], usable under tf.function and
        tf.GradientTape for any batch size. A name is an output, an inner tensor, or OUTPUT: the
        ``output`` (with ``logits``, its pre-squash tensor); a (batch, frames, classes) OUTPUT is
        reduced over frames by ``reduce`` ("mean", "max"; None keeps the frames). With inner
        tensors and OUTPUT together, OUTPUT is computed from the inner tensors' values, so that
        its gradient with respect to them exists (as CAM methods need)."""
        if reduce not in REDUCTIONS + (None,):
            raise ValueError(f"reduce must be one of {REDUCTIONS} or None, got {reduce!r}")
        if len(self.inputs) != 1:
            raise ValueError(f"{self.path} takes {len(self.inputs)} inputs; tfam needs one")
        x = self.inputs[0]
        if not tf.as_dtype(x.dtype).is_floating:
            raise ValueError(f"{self.path} takes {x.dtype} input; tfam needs a float input")
        refs = []
        for name in names:
            if name == OUTPUT:
                name = self.output_name(output)
                squash = self.squash(name) if logits else None
                name = squash.logits if squash else name
            refs.append(self._tensor(name).name)
        inner = tuple(dict.fromkeys(r for r, n in zip(refs, names) if n != OUTPUT))
        outer = tuple(dict.fromkeys(r for r in refs if r not in inner))
        first = self._pruned_function((x.name,), inner or outer)
        second = self._pruned_function((x.name,) + inner, outer) if inner and outer else None
        order = inner + outer if second else inner or outer
        where = [order.index(r) for r in refs]
        over_time = [name == OUTPUT and reduce is not None for name in names]

        def fn(inputs):
            inputs = _keep_static_shape(tf.cast(tf.convert_to_tensor(inputs), x.dtype))
            values = [_with_batch(v, inputs) for v in first(inputs)]
            if second is not None:  # fed the very tensors it returns, so gradients reach them
                values += [_with_batch(v, inputs) for v in second(inputs, *values)]
            return [
                _over_time(values[i], reduce) if reduced else values[i]
                for i, reduced in zip(where, over_time)
            ]

        return fn

    def _pruned_function(self, feeds, fetches):
        key = (feeds, fetches)
        if key not in self._pruned:
            self._pruned[key] = self._wrapped.prune(
                feeds=[self._tensor(r) for r in feeds], fetches=[self._tensor(r) for r in fetches]
            )
        return self._pruned[key]


def _keep_static_shape(x):
    """x, whose gradient keeps x's static shape: a pruned graph's gradient has an open batch axis,
    and a tf.while_loop that carries it from a (1, n) start refuses (None, n) after one step."""

    @tf.custom_gradient
    def identity(x):
        return tf.identity(x), lambda dy: tf.ensure_shape(dy, x.shape)

    return identity(x)


def _with_batch(value, inputs):
    """The value with the inputs' static batch size (the graph's outputs have an open one)."""
    if value.shape.rank and value.shape[0] is None and inputs.shape[0] is not None:
        return tf.ensure_shape(value, [inputs.shape[0]] + value.shape.as_list()[1:])
    return value


def _over_time(value, reduce):
    if value.shape.rank != 3:
        return value
    return tf.reduce_mean(value, axis=1) if reduce == "mean" else tf.reduce_max(value, axis=1)


def load(path, input_node=None, output_node=None, signature=None, unsafe=False, identified=None):
    """A SavedModel directory or frozen GraphDef file as a GraphModel, after checking its ops
    (``unsafe``: skip the check). A GraphDef's input and output default to seed 002's nodes
    (``input``, ``fc2/fully_connected/fc_out``), or to its only placeholder and only end."""
    kind, graph_def = identified or identify(path)
    if kind in ("keras", "h5"):
        raise ValueError(f"{path} is a Keras .{kind} file: open it with keras.models.load_model")
    if kind == "graph_def":
        return GraphModel(
            *_frozen_graph(path, graph_def, input_node, output_node, unsafe), path, kind
        )
    if input_node or output_node:
        raise ValueError(
            "input_node and output_node name nodes of a frozen graph; a SavedModel's "
            "output is chosen by its name (output=)"
        )
    return GraphModel(*_saved_model_graph(path, signature, unsafe), path, kind)


# -- the Keras adapter -----------------------------------------------------------------------------


class GraphLayer(keras.layers.Layer):
    """Runs GraphModel.function's tensors: no weights of its own, not savable as Keras."""

    def __init__(self, fn, **kwargs):
        super().__init__(trainable=False, **kwargs)
        self._fn = fn

    def call(self, x):
        values = self._fn(x)
        return values[0] if len(values) == 1 else values


# ops a CAM map is read after: the convolution's own elementwise tail (bias, activation, norm)
_CONVOLUTIONS = frozenset("Conv2D Conv3D DepthwiseConv2dNative Conv2DBackpropInput".split())
_CONV_TAIL = frozenset(
    """BiasAdd Add AddV2 Relu Relu6 LeakyRelu Elu Selu Tanh Sigmoid Softplus Squeeze Identity
    FusedBatchNorm FusedBatchNormV2 FusedBatchNormV3 Mul Maximum""".split()
)
_CONSTANT_OPS = frozenset({"Const", "ReadVariableOp", "VarHandleOp"})


class GraphBacked:
    """What a Keras model made by as_keras_model runs: the graph, the output it reads, its
    reduction over time and whether it reads the pre-squash logits. The core's surgery asks a
    model for this (``model.graph_backed``) instead of importing this module."""

    def __init__(self, graph, output, reduce, logits, input_shape):
        self.graph, self.output, self.reduce = graph, graph.output_name(output), reduce
        self.logits, self.input_shape = logits, input_shape

    def squash(self):
        """'softmax' or 'sigmoid' when the model's output is squashed (and not read as logits)."""
        squash = None if self.logits else self.graph.squash(self.output)
        return squash.kind if squash else None

    def _model(self, fetches=None, logits=None):
        return as_keras_model(
            self.graph,
            fetches,
            self.output,
            self.reduce,
            self.logits if logits is None else logits,
            self.input_shape,
        )

    def with_logits(self):
        return self._model(logits=True)

    def with_input_shape(self, shape):
        return as_keras_model(self.graph, None, self.output, self.reduce, self.logits, shape)

    def features(self, names):
        """A Keras model from the input to a list of tensors, one per name (OUTPUT: the output)."""
        return self._model(fetches=list(names))

    def tensor_names(self):
        return [t.name for t in self.graph.tensors()]

    def tensor_shape(self, name):
        if name == OUTPUT:
            name = self.graph.output_name(self.output)
        return self.graph.tensor_info(name).shape

    def cam_tensors(self):
        """The tensor a CAM method reads by default: walking back from the output, the last
        convolution met, after its bias and activation; [] when there is none."""
        return self.graph.cam_tensors(self.output)

    def feature_tensors(self, dense=False):
        """Every convolution's output (and with ``dense`` every matrix product's) after its tail,
        the output itself left out (GraphModel.feature_tensors)."""
        output = _display(self.graph._tensor(self.graph.output_name(self.output)))
        return [name for name in self.graph.feature_tensors(dense) if name != output]


def _keras_name(name):
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def as_keras_model(graph, fetches=None, output=None, reduce="mean", logits=False, input_shape=None):
    """A functional keras.Model with one input. Without ``fetches`` its output is the graph's
    ``output`` (reduced over time by ``reduce``; with ``logits``, before its squash); with them, a
    list of tensors, one per name (as in GraphModel.function). ``input_shape`` (no batch axis)
    fixes open sizes. ``model.graph_backed`` tells tfam's surgery what the model runs."""
    fn = graph.function([OUTPUT] if fetches is None else list(fetches), output, reduce, logits)
    spec = graph.inputs[0]
    declared = None if spec.shape is None else spec.shape[1:]
    shape = declared if input_shape is None else tuple(input_shape)
    fits = declared is None or (
        len(shape) == len(declared)
        and all(want in (None, got) for want, got in zip(declared, shape))
    )
    if shape is None or not fits:
        raise ValueError(
            f"{graph.path} takes input of shape {spec.shape}; input_shape {shape} does not fit it"
        )
    inputs = keras.Input(shape=shape, dtype=spec.dtype, name=_keras_name(spec.name))
    outputs = GraphLayer(fn, name="graph")(inputs)
    if fetches is not None and len(fetches) == 1:
        outputs = [outputs]
    model = keras.Model(
        inputs, outputs, name=_keras_name(os.path.basename(os.path.normpath(graph.path)))
    )
    model.graph_backed = GraphBacked(graph, output, reduce, logits, input_shape)
    return model


def graph_model_of(model):
    """The GraphModel behind a model made by as_keras_model, else None."""
    backed = getattr(model, "graph_backed", None)
    return backed.graph if backed is not None else None
