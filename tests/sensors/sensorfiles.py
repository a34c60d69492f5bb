"""Small sensor logs in their exact formats (Zeek TSV as IoT-23 writes it, Zeek JSON, eve.json, CICFlowMeter CSV)."""

from __future__ import annotations

import json

from rtguard.serve.errors import BadRequest
from rtguard.serve.records import RecordEncoder
from rtguard.stream.flows import MalformedLine

ZEEK_HEADER = (
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#open\t2019-03-15-14-50-49\n"
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\t"
    "local_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents   label   detailed-label\n"
    "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\t"
    "count\tcount\tcount\tset[string]   string   string\n"
)
# (label, detailed-label, proto, service, resp port, conn_state, history, duration, orig_bytes, resp_bytes, orig_pkts, resp_pkts)
_KINDS = [
    ("Benign", "-", "tcp", "http", 80, "SF", "ShADadttcfF", "1.477656", "149", "128252", 94, 96),
    ("Benign", "-", "udp", "dns", 53, "SF", "Dd", "0.01", "40", "120", 1, 1),
    ("Malicious", "DDoS", "tcp", "-", 80, "S0", "S", "-", "-", "-", 1, 0),
    ("Malicious", "C&C", "tcp", "-", 6667, "S3", "ShAdD", "3.139211", "0", "0", 3, 2),
    ("Malicious", "PartOfAHorizontalPortScan", "tcp", "-", 23, "S0", "S", "-", "-", "-", 1, 0),
]


def zeek_rows(n: int, start: int = 0) -> list[dict]:
    rows = []
    for index in range(start, start + n):
        label, detailed, proto, service, port, state, history, duration, ob, rb, op, rp = _KINDS[index % len(_KINDS)]
        rows.append({"ts": 1545403816.962094 + index, "uid": f"C{index:08d}", "id.orig_h": "192.168.1.195", "id.orig_p": 41040 + index % 900,
                     "id.resp_h": f"185.244.25.{index % 250}", "id.resp_p": port, "proto": proto, "service": service, "duration": duration,
                     "orig_bytes": ob, "resp_bytes": rb, "conn_state": state, "local_orig": "-", "local_resp": "-", "missed_bytes": 0,
                     "history": history, "orig_pkts": op + index % 3, "orig_ip_bytes": 60 * op, "resp_pkts": rp, "resp_ip_bytes": 60 * rp,
                     "tunnel_parents": "-", "label": label, "detailed-label": detailed})
    return rows


def zeek_tsv(rows: list[dict], header: bool = True) -> str:
    columns = list(rows[0])[:-2]
    lines = [ZEEK_HEADER] if header else []
    for row in rows:
        lines.append("\t".join(str(row[name]) for name in columns) + f"   {row['label']}   {row['detailed-label']}\n")
    return "".join(lines)


def zeek_json(rows: list[dict]) -> str:
    """Zeek's JSON writer: numbers as numbers, unset fields left out, no labels."""
    out = []
    for row in rows:
        record = {}
        for name, value in row.items():
            if value == "-" or name in ("label", "detailed-label"):
                continue
            record[name] = float(value) if name == "duration" else int(value) if name.endswith("bytes") and isinstance(value, str) else value
        out.append(json.dumps(record) + "\n")
    return "".join(out)


def eve_flow(index: int, label: str | None = None) -> dict:
    record = {"timestamp": "2024-12-18T19:35:27.039938-0500", "flow_id": 778615965085998 + index, "event_type": "flow",
              "src_ip": "10.0.0.5", "src_port": 40000 + index, "dest_ip": "10.0.0.1", "dest_port": [53, 443, 22][index % 3],
              "proto": ["UDP", "TCP", "TCP"][index % 3], "app_proto": ["dns", "tls", "ssh"][index % 3],
              "flow": {"pkts_toserver": 1 + index % 5, "pkts_toclient": index % 4, "bytes_toserver": 60 * (1 + index % 5),
                       "bytes_toclient": 90 * (index % 4), "start": "2024-12-18T19:35:54.312357-0500",
                       "end": "2024-12-18T19:36:25.397248-0500", "age": index % 7, "state": "established", "reason": "timeout",
                       "alerted": False}}
    if index % 3:
        record["tcp"] = {"tcp_flags": ["1a", "1b"][index % 2], "syn": True}
    if label is not None:
        record["label"] = label
    return record


CIC_HEADER = (" Destination Port, Flow Duration, Total Fwd Packets,Fwd Header Length, Flow Bytes/s, Fwd Header Length, Label\n")


def cic_csv(n: int) -> str:
    lines = [CIC_HEADER]
    for index in range(n):
        rate = "Infinity" if index % 7 == 0 else "NaN" if index % 11 == 0 else f"{1000 + index}.5"
        label = "BENIGN" if index % 2 else "DDoS"
        lines.append(f"{[80, 443, 53][index % 3]},{3 + index},{2 + index % 4},{40 * (index % 3)},{rate},{40 * (index % 3)},{label}\n")
    return "".join(lines)


def handmade_run(run, schema, sign_with=None):
    """A one-variant run folder (variants/handmade) whose model is softmax(features @ W): verdicts vary with every feature."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    variant = run / "variants" / "handmade"
    variant.mkdir(parents=True)
    schema.save(run / "schema.json")
    schema.save(variant / "schema.json")  # the input contract the load reads beside the model (rtguard sign copies it)
    n, k = len(schema.features), len(schema.classes)
    weights = np.random.default_rng(5).normal(0, 0.3, (n, k)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Mul", ["features", "shrink"], ["small"]),
         helper.make_node("MatMul", ["small", "weights"], ["logits"]),
         helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1)],
        "handmade-sensor",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", n])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", k])],
        initializer=[numpy_helper.from_array(weights, "weights"),
                     numpy_helper.from_array(np.full((n,), 0.01, dtype=np.float32), "shrink")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 10
    onnx.save(model, variant / "model.onnx")
    for name in ("variant.json", "metrics.json"):
        (variant / name).write_text(json.dumps({}))
    if sign_with is not None:
        from rtguard.integrity import sign_all

        sign_all(variant, sign_with)
    return variant


def line_reader_encoding(flows, schema, lines, rows) -> list:
    """What the line-by-line reader keeps of numbered `lines` ((number, id, unknown) per flow, rows filled in order):
    the answer every columnar sensor reader must give."""
    encoder, kept = RecordEncoder(schema, max_records=1), []
    for number, line in lines:
        try:
            read = flows.record(line)
            if read is not None:
                kept.append((number, read[1], encoder.encode(read[0], rows[len(kept)])))
        except (MalformedLine, BadRequest):
            pass
    return kept
