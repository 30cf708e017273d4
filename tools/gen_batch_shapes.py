#!/usr/bin/env python3
"""Reduce the official AWS Batch service model to the shapes BatchSync reads and writes.

Usage: python3 tools/gen_batch_shapes.py [path/to/batch-2016-08-10.service-2.json]

Default input: ../shared/aws-models/batch-2016-08-10.service-2.json (botocore's model, see that folder's SOURCES.md).
Output: functions/BatchSync.Core/Model/batch-shapes.json, embedded in BatchSync.Core. Only shapes reachable from
SubmitJobRequest, SubmitJobResponse, JobDetail, SubmitServiceJobRequest and DescribeServiceJobResponse are kept, with the facts the mappers need (type, members, required,
enum, min, max); documentation is dropped. The unit test BatchShapesTests checks the result against the full model copy
in tests/BatchSync.Tests/Fixtures/aws-models.
"""
import json
import os
import sys

ROOTS = ["SubmitJobRequest", "SubmitJobResponse", "JobDetail", "SubmitServiceJobRequest", "DescribeServiceJobResponse"]
KEEP = ("type", "required", "enum", "min", "max")

here = os.path.dirname(os.path.abspath(__file__))
src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "shared", "aws-models", "batch-2016-08-10.service-2.json")
dst = os.path.join(here, "..", "functions", "BatchSync.Core", "Model", "batch-shapes.json")

model = json.load(open(src, encoding="utf-8"))
shapes = model["shapes"]
out = {}


def visit(name):
    if name in out:
        return
    shape = shapes[name]
    reduced = {k: shape[k] for k in KEEP if k in shape}
    out[name] = reduced
    if "members" in shape:
        reduced["members"] = {m: v["shape"] for m, v in shape["members"].items()}
        for v in shape["members"].values():
            visit(v["shape"])
    for k in ("member", "key", "value"):
        if k in shape:
            reduced[k] = shape[k]["shape"]
            visit(shape[k]["shape"])


for root in ROOTS:
    visit(root)

doc = {
    "source": "botocore batch/2016-08-10/service-2.json, apiVersion " + model["metadata"]["apiVersion"],
    "roots": ROOTS,
    "shapes": {k: out[k] for k in sorted(out)},
}
os.makedirs(os.path.dirname(dst), exist_ok=True)
with open(dst, "w", encoding="utf-8") as f:
    json.dump(doc, f, indent=1, sort_keys=False)
    f.write("\n")
print(f"wrote {len(out)} shapes to {os.path.relpath(dst)}")
print("SubmitJobRequest members:", ", ".join(out["SubmitJobRequest"]["members"]))
