"""The Open Inference Protocol v2 over HTTP, with Triton's binary tensor data extension.

Speaking the protocol KServe, Triton and MLServer share lets existing clients (tritonclient,
KServe's) and gateways talk to rtguard unchanged, and move to Triton (`rtguard export triton`)
unchanged. Binary tensors follow Triton's definition: the JSON document is the first
`Inference-Header-Content-Length` bytes of the body and each tensor with a
`binary_data_size` parameter follows it, in order, as little-endian row-major bytes.
Every field is checked here; a request that does not fit is refused whole with a message
that names the field.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import orjson

from rtguard.data.schema import FeatureSchema
from rtguard.runtime import INPUT_NAME, OUTPUT_NAME
from rtguard.serve.errors import BadRequest, BodyTooLarge, UnsupportedEncoding

DATATYPE = "FP32"
HEADER_LENGTH = "inference-header-content-length"
EXTENSIONS = ["binary_tensor_data", "model_repository"]
_LITTLE_FLOAT32 = np.dtype("<f4")
_ENCODINGS = {"gzip": 31, "deflate": 15}  # zlib wbits: gzip framing, zlib framing (HTTP's "deflate")


@dataclass(frozen=True)
class Contract:
    """What the served model takes and gives, as the protocol describes it."""

    n_features: int
    n_classes: int
    max_batch: int
    platform: str = "onnxruntime_onnx"  # Triton's name for the backend serving it

    def metadata(self, name: str, version: str, schema: FeatureSchema | None = None, alert_threshold: float | None = None) -> dict:
        """The model metadata response; with the schema, enough to build a request without reading the run's files.

        What the protocol does not define goes under `parameters` (the protocol's place for
        extra keys, which tritonclient passes through): the input's columns in order, each
        with its name, kind and, for a categorical, its vocabulary (/infer takes the index
        of a value in it, len(vocabulary) for a value training never saw; /score takes the
        string), the output's classes, and the alert rule /score applies.
        """
        document = {
            "name": name, "versions": [version], "platform": self.platform,
            "inputs": [{"name": INPUT_NAME, "datatype": DATATYPE, "shape": [-1, self.n_features]}],
            "outputs": [{"name": OUTPUT_NAME, "datatype": DATATYPE, "shape": [-1, self.n_classes]}],
        }
        if schema is not None:
            document["inputs"][0]["parameters"] = {"features": feature_metadata(schema)}
            document["outputs"][0]["parameters"] = {"classes": list(schema.classes)}
            document["parameters"] = {
                "classes": list(schema.classes), "benign_class": schema.benign_class,
                "alert": "1 - P(benign) >= alert_threshold", "alert_threshold": alert_threshold,
                "score_endpoint": f"/v2/models/{name}/score",
                "categoricals": "infer: the value's index in the feature's vocabulary (oov_code when unknown); score: the value as a string",
            }
        return document


def feature_metadata(schema: FeatureSchema) -> list[dict]:
    """Each input column in order: its name and kind; a categorical also its vocabulary and out-of-vocabulary code."""
    features = []
    for index, feature in enumerate(schema.features):
        entry = {"index": index, "name": feature.name, "kind": feature.kind}
        if feature.kind == "categorical":
            entry["vocabulary"] = list(feature.vocabulary)
            entry["oov_code"] = feature.oov_code
        else:
            entry["minimum"], entry["maximum"] = float(feature.minimum), float(feature.maximum)
        features.append(entry)
    return features


@dataclass(frozen=True)
class InferRequest:
    rows: np.ndarray
    outputs: list[tuple[str, bool]]  # requested output name, returned as binary
    id: str | None
    timeout_s: float | None  # the client's `timeout` parameter (µs in the protocol)


def decompressed(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body as sent before Content-Encoding (gzip or deflate, as tritonclient can send), at most `limit` bytes."""
    if encoding is None or encoding.strip().lower() in ("", "identity"):
        return body
    wbits = _ENCODINGS.get(encoding.strip().lower())
    if wbits is None:
        raise UnsupportedEncoding(f"Content-Encoding {encoding!r} is not supported: send gzip, deflate or an uncompressed body")
    inflater = zlib.decompressobj(wbits)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BadRequest(f"the {encoding} body does not decompress: {exc}") from None
    if len(data) > limit:
        raise BodyTooLarge(f"the decompressed body exceeds the {limit:,}-byte limit (serve.max_body_kib)")
    if not inflater.eof:
        raise BadRequest(f"the {encoding} body is truncated")
    return data


def parse_infer(body: bytes, header_length: str | None, contract: Contract) -> InferRequest:
    """The checked request; raises BadRequest naming what does not fit."""
    document, binary = _split(body, header_length)
    request = json_object(document)
    parameters = _parameters(request, "the request")
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(spec, dict) for spec in inputs):
        raise BadRequest(f"'inputs' must be a list of tensor objects, with one named {INPUT_NAME!r}")
    chunks = _binary_chunks(inputs, binary, header_length is not None)
    names = [spec.get("name") for spec in inputs]
    unknown = [name for name in names if name != INPUT_NAME]
    if unknown:
        raise BadRequest(f"unknown inputs {unknown}: the model takes one input, {INPUT_NAME!r}")
    if len(names) != 1:
        raise BadRequest(f"input {INPUT_NAME!r} is missing" if not names else f"input {INPUT_NAME!r} is given {len(names)} times")
    request_id = request.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadRequest("'id' must be a string")
    return InferRequest(
        rows=_tensor(inputs[0], chunks[0], contract),
        outputs=_outputs(request, _flag(parameters, "binary_data_output", "the request")),
        id=request_id,
        timeout_s=_timeout(parameters),
    )


def infer_response(request: InferRequest, probabilities: np.ndarray, model_name: str, version: str,
                   repaired: dict[str, int] | None = None) -> tuple[bytes, dict[str, str]]:
    """Body and headers: JSON alone, or JSON followed by the binary outputs with Inference-Header-Content-Length.

    Values the input guard repaired are counted in the response's parameters ({"clipped": n, "imputed": m,
    "out_of_vocabulary": k}), so a client learns that its flows were not scored exactly as sent.
    """
    outputs, blobs = [], []
    for name, binary in request.outputs:
        tensor = {"name": name, "datatype": DATATYPE, "shape": list(probabilities.shape)}
        if binary:
            blobs.append(np.ascontiguousarray(probabilities, dtype=_LITTLE_FLOAT32).tobytes())
            tensor["parameters"] = {"binary_data_size": len(blobs[-1])}
        else:
            tensor["data"] = probabilities.ravel()
        outputs.append(tensor)
    document = {"model_name": model_name, "model_version": version, "outputs": outputs}
    if request.id is not None:
        document["id"] = request.id
    if repaired:
        document["parameters"] = dict(repaired)
    header = orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return header, {"content-type": "application/json"}
    return b"".join([header, *blobs]), {"content-type": "application/octet-stream", HEADER_LENGTH: str(len(header))}


def _split(body: bytes, header_length: str | None) -> tuple[bytes, memoryview]:
    if header_length is None:
        return body, memoryview(b"")
    try:
        length = int(header_length)
    except ValueError:
        raise BadRequest(f"Inference-Header-Content-Length {header_length!r} is not an integer") from None
    if not 0 <= length <= len(body):
        raise BadRequest(f"Inference-Header-Content-Length is {length} but the body holds {len(body)} bytes")
    return body[:length], memoryview(body)[length:]


def json_object(document: bytes) -> dict:
    """The body as a JSON object, or BadRequest saying why it is not one."""
    try:
        request = orjson.loads(document)
    except orjson.JSONDecodeError as exc:  # strict JSON: no NaN or Infinity tokens, no numbers beyond float64
        raise BadRequest(f"the request is not valid JSON: {exc}") from None
    if not isinstance(request, dict):
        raise BadRequest(f"the request must be a JSON object, not {type(request).__name__}")
    return request


def _parameters(holder: dict, where: str) -> dict:
    parameters = holder.get("parameters", {})
    if not isinstance(parameters, dict):
        raise BadRequest(f"'parameters' of {where} must be an object")
    return parameters


def _flag(parameters: dict, key: str, where: str, default: bool = False) -> bool:
    value = parameters.get(key, default)
    if not isinstance(value, bool):
        raise BadRequest(f"parameter {key!r} of {where} must be true or false")
    return value


def _binary_chunks(inputs: list[dict], binary: memoryview, has_header: bool) -> list[memoryview | None]:
    """Each input's slice of the binary part (None for JSON data); the declared sizes must cover it exactly."""
    chunks, offset = [], 0
    for spec in inputs:
        size = _parameters(spec, f"input {spec.get('name')!r}").get("binary_data_size")
        if size is None:
            chunks.append(None)
            continue
        if not has_header:
            raise BadRequest(f"input {spec.get('name')!r} declares binary_data_size but the request has no Inference-Header-Content-Length header")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise BadRequest(f"binary_data_size of input {spec.get('name')!r} must be a non-negative integer")
        chunks.append(binary[offset : offset + size])
        offset += size
    if offset != len(binary):
        raise BadRequest(f"the inputs declare {offset} bytes of binary data but the body holds {len(binary)} after the JSON header")
    return chunks


def _tensor(spec: dict, chunk: memoryview | None, contract: Contract) -> np.ndarray:
    datatype, shape = spec.get("datatype"), spec.get("shape")
    if datatype != DATATYPE:
        raise BadRequest(f"input {INPUT_NAME!r} has datatype {datatype!r}; the model takes {DATATYPE}")
    if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(n, int) and not isinstance(n, bool) for n in shape)
            and shape[1] == contract.n_features and 1 <= shape[0] <= contract.max_batch):
        raise BadRequest(f"input {INPUT_NAME!r} has shape {shape}; the model takes [batch, {contract.n_features}] with batch 1 to {contract.max_batch}")
    count = shape[0] * shape[1]
    if chunk is not None:
        if "data" in spec:
            raise BadRequest(f"input {INPUT_NAME!r} has both 'data' and binary_data_size")
        if len(chunk) != count * 4:
            raise BadRequest(f"binary_data_size of input {INPUT_NAME!r} is {len(chunk)} bytes; shape {shape} of {DATATYPE} needs {count * 4}")
        return np.frombuffer(chunk, dtype=_LITTLE_FLOAT32).reshape(shape)
    data = spec.get("data")
    if not isinstance(data, list):
        raise BadRequest(f"input {INPUT_NAME!r} needs 'data' (a list of numbers, flat or nested, row-major) or binary_data_size")
    try:
        values = np.array(data)
    except (ValueError, TypeError):  # ragged nesting
        raise BadRequest(f"'data' of input {INPUT_NAME!r} is not a regular nested list of numbers") from None
    if values.dtype.kind not in "iuf":
        raise BadRequest(f"'data' of input {INPUT_NAME!r} must hold numbers only (found {values.dtype.kind!r}: booleans, strings or nulls)")
    if values.size != count:
        raise BadRequest(f"'data' of input {INPUT_NAME!r} holds {values.size} values; shape {shape} needs {count}")
    return values.reshape(shape).astype(np.float32)


def _outputs(request: dict, default_binary: bool) -> list[tuple[str, bool]]:
    requested = request.get("outputs")
    if requested is None:
        return [(OUTPUT_NAME, default_binary)]
    if not isinstance(requested, list) or not all(isinstance(spec, dict) for spec in requested):
        raise BadRequest("'outputs' must be a list of objects")
    outputs = []
    for spec in requested:
        name = spec.get("name")
        if name != OUTPUT_NAME:
            raise BadRequest(f"unknown output {name!r}: the model gives one output, {OUTPUT_NAME!r}")
        parameters = _parameters(spec, f"output {name!r}")
        if "classification" in parameters:
            raise BadRequest("the classification extension is not supported: use POST /v2/models/<name>/score for classes and alerts")
        outputs.append((name, _flag(parameters, "binary_data", f"output {name!r}", default_binary)))
    if len(outputs) != len({name for name, _ in outputs}):
        raise BadRequest(f"output {OUTPUT_NAME!r} is requested more than once")
    return outputs


def _timeout(parameters: dict) -> float | None:
    value = parameters.get("timeout")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadRequest("parameter 'timeout' must be a non-negative integer (microseconds)")
    return value / 1e6 if value else None  # 0: no timeout of the client's own, as in Triton
