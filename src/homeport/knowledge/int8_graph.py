"""Int8 arithmetic for the shipped all-MiniLM-L6-v2 graph.

The packaged ONNX file stores int8 weights that the graph casts back to float32 (``Cast`` then
``Mul`` by a per-column scale) before each ``MatMul``, so onnxruntime computes in float32, as
torch does. ``int8_products`` rewrites the products whose input is a ``LayerNormalization``
output (query, key, value and the feed-forward's first layer: 24 of 36) into onnxruntime's
``DynamicQuantizeMatMul``, which quantizes the activation per call and multiplies in int8. The
attention-output and feed-forward-output products stay float32: their inputs have outliers that
one scale per call would crush (measured: mean cosine to the float32 vectors 0.9976 this way,
0.994 quantizing all 36, for 1.8x against 2.2x less CPU).

The rewrite edits the protobuf directly with a partial ONNX schema: the ``onnx`` package
(31 MB) is not needed, and every field the schema does not name is kept as it was.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_PACKAGE = "homeport_onnx_subset"
_REPEATED = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
_OPTIONAL = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
_TYPES = {
    "string": descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
    "int64": descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
}

# (message, [(field, number, repeated, type or message name)]): ONNX's own field numbers.
_SCHEMA: list[tuple[str, list[tuple[str, int, bool, str]]]] = [
    ("OperatorSetIdProto", [("domain", 1, False, "string"), ("version", 2, False, "int64")]),
    ("TensorProto", [("name", 8, False, "string")]),
    (
        "NodeProto",
        [
            ("input", 1, True, "string"),
            ("output", 2, True, "string"),
            ("name", 3, False, "string"),
            ("op_type", 4, False, "string"),
            ("domain", 7, False, "string"),
        ],
    ),
    ("GraphProto", [("node", 1, True, "NodeProto"), ("initializer", 5, True, "TensorProto")]),
    (
        "ModelProto",
        [("graph", 7, False, "GraphProto"), ("opset_import", 8, True, "OperatorSetIdProto")],
    ),
]


def _model_class() -> Any:
    proto = descriptor_pb2.FileDescriptorProto(
        name=f"{_PACKAGE}.proto", package=_PACKAGE, syntax="proto2"
    )
    for message, fields in _SCHEMA:
        described = proto.message_type.add(name=message)
        for name, number, repeated, kind in fields:
            field = described.field.add(
                name=name, number=number, label=_REPEATED if repeated else _OPTIONAL
            )
            if kind in _TYPES:
                field.type = _TYPES[kind]
            else:
                field.type = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
                field.type_name = f".{_PACKAGE}.{kind}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.ModelProto"))


def int8_products(model: bytes) -> bytes:
    """The model with its LayerNorm-fed weight products in int8 (see the module's docstring)."""
    parsed = _model_class()()
    parsed.ParseFromString(model)
    graph = parsed.graph
    nodes = list(graph.node)
    producer = {output: index for index, node in enumerate(nodes) for output in node.output}
    initializers = {tensor.name for tensor in graph.initializer}

    def made_by(name: str, op_type: str) -> int | None:
        index = producer.get(name)
        return index if index is not None and nodes[index].op_type == op_type else None

    replaced: dict[int, Any] = {}
    expanders: set[int] = set()  # the Cast and Mul nodes of rewritten products
    for index, node in enumerate(nodes):
        if node.op_type != "MatMul" or node.domain:
            continue
        scaled = made_by(node.input[1], "Mul")
        cast = made_by(nodes[scaled].input[0], "Cast") if scaled is not None else None
        if (
            scaled is None
            or cast is None
            or nodes[cast].input[0] not in initializers
            or nodes[scaled].input[1] not in initializers
            or made_by(node.input[0], "LayerNormalization") is None
        ):
            continue
        replaced[index] = type(node)(
            name=f"{node.name}_int8",
            op_type="DynamicQuantizeMatMul",
            domain="com.microsoft",
            input=[node.input[0], nodes[cast].input[0], nodes[scaled].input[1]],
            output=node.output,
        )
        expanders.update((cast, scaled))
    if not replaced:
        raise ValueError("the graph has no int8 weight products to rewrite")
    kept = [replaced.get(index, node) for index, node in enumerate(nodes)]
    # The Cast and Mul that expanded a rewritten weight now feed nothing (unless shared): drop
    # them, so the float32 copy of that weight is never made.
    used = {name for node in kept for name in node.input}
    dropped = {i for i in expanders if nodes[i].op_type == "Mul" and nodes[i].output[0] not in used}
    used = {name for i, node in enumerate(kept) if i not in dropped for name in node.input}
    dropped |= {
        i for i in expanders if nodes[i].op_type == "Cast" and nodes[i].output[0] not in used
    }
    copies = []
    for index, node in enumerate(kept):
        if index not in dropped:
            copy = type(node)()
            copy.CopyFrom(node)
            copies.append(copy)
    del graph.node[:]
    graph.node.extend(copies)
    if not any(opset.domain == "com.microsoft" for opset in parsed.opset_import):
        parsed.opset_import.add(domain="com.microsoft", version=1)
    data: bytes = parsed.SerializeToString()
    return data
