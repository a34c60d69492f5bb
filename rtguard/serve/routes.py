"""The endpoints: Open Inference Protocol v2 (health, metadata, infer, repository load), /score and /metrics.

Handlers take the raw request and answer with prepared bytes: the protocol module checks
every field itself, so no second validation layer runs on the hot path.
"""

from __future__ import annotations

import asyncio

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rtguard.serve.errors import BadRequest
from rtguard.serve.protocol import EXTENSIONS, HEADER_LENGTH, decompressed, infer_response, json_object, parse_infer
from rtguard.serve.records import alert_threshold, verdicts
from rtguard.version import __version__


def _json(document: object) -> Response:
    return Response(orjson.dumps(document), media_type="application/json")


async def server_metadata(request: Request) -> Response:
    return _json({"name": "rtguard", "version": __version__, "extensions": EXTENSIONS})


async def live(request: Request) -> Response:
    return _json({"live": True})


async def ready(request: Request) -> Response:
    return _json({"ready": True})  # a server exists only once its model verified and loaded


async def model_metadata(request: Request) -> Response:
    state, model = request.app.state, _model(request)
    return _json(model.contract.metadata(model.name, model.version, model.session.schema,
                                         alert_threshold(model.session.alert_threshold, state.alert_threshold)))


async def model_ready(request: Request) -> Response:
    model = _model(request)
    return _json({"name": model.name, "version": model.version, "ready": True})


async def infer(request: Request) -> Response:
    state, model = request.app.state, _model(request)
    body = decompressed(await request.body(), request.headers.get("content-encoding"), state.max_body)
    parsed = parse_infer(body, request.headers.get(HEADER_LENGTH), model.contract)
    probabilities, repaired, _ = await model.score(parsed.rows, _deadline(state, parsed.timeout_s), state.metrics)
    content, headers = infer_response(parsed, probabilities, model.name, model.version, repaired)
    return Response(content, headers=headers)


async def score(request: Request) -> Response:
    """Named flow records in; class, scores and alert per record out."""
    state, model = request.app.state, _model(request)
    document = json_object(decompressed(await request.body(), request.headers.get("content-encoding"), state.max_body))
    rows, unknown = model.records.rows(document)
    for fields in unknown:
        if fields:
            state.metrics.repaired.labels("out_of_vocabulary").inc(len(fields))
    probabilities, repaired, touched = await model.score(rows, _deadline(state, None), state.metrics)
    results = verdicts(probabilities, model.session.schema, alert_threshold(model.session.alert_threshold, state.alert_threshold), unknown)
    for kind, rows_touched in touched.items():  # a verdict on values that were not the ones sent says so
        for index in np.flatnonzero(rows_touched).tolist():
            results[index][kind] = True
    answer = {"model_name": model.name, "model_version": model.version, "results": results}
    return _json({**answer, "parameters": repaired} if repaired else answer)


async def repository_index(request: Request) -> Response:
    model = request.app.state.repository.current
    return _json([{"name": model.name, "version": model.version, "state": "READY"}])


async def load(request: Request) -> Response:
    """Hot reload: {"parameters": {"run": RUN, "variant": NAME}}, both optional (default: the served variant, read again)."""
    body = await request.body()
    parameters = json_object(body).get("parameters", {}) if body.strip() else {}
    if not isinstance(parameters, dict):
        raise BadRequest("the load request must be {\"parameters\": {\"run\": ..., \"variant\": ...}} or empty")
    model = await request.app.state.repository.reload(request.path_params["name"], parameters)
    return _json({"model_name": model.name, "model_version": model.version, "run": model.run.name, "variant": model.variant})


async def metrics(request: Request) -> Response:
    content, media_type = request.app.state.metrics.render()
    return Response(content, media_type=media_type)


def _model(request: Request):
    return request.app.state.repository.get(request.path_params["name"], request.path_params.get("version"))


def _deadline(state, timeout_s: float | None) -> float:
    budget = state.deadline_s if timeout_s is None else min(state.deadline_s, timeout_s)
    return asyncio.get_running_loop().time() + budget


MODEL, VERSION = "/v2/models/{name}", "/v2/models/{name}/versions/{version}"
routes = [  # the hot path first: Starlette tries routes in order
    *(Route(f"{base}/infer", infer, methods=["POST"]) for base in (MODEL, VERSION)),
    Route(f"{MODEL}/score", score, methods=["POST"]),
    Route("/v2", server_metadata),
    Route("/v2/health/live", live),
    Route("/v2/health/ready", ready),
    *(Route(base, model_metadata) for base in (MODEL, VERSION)),
    *(Route(f"{base}/ready", model_ready) for base in (MODEL, VERSION)),
    Route("/v2/repository/index", repository_index, methods=["POST"]),
    Route("/v2/repository/models/{name}/load", load, methods=["POST"]),
    Route("/metrics", metrics),
]
