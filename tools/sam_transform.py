#!/usr/bin/env python3
"""Prints template.yaml after the SAM transform, as JSON, for given parameter values.

Usage: python3 tools/sam_transform.py [--template FILE] [Name=Value ...]

The transform is samtranslator's through cfn-lint's wrapper (what `cfn-lint template.yaml` runs), fed the parameter
values given and the template's defaults for the rest, as CloudFormation feeds the transform at deploy time. Exits 1
with the transform's messages if it fails. Used by the unit tests (SnapStartTemplateTests) and by
scripts/lint-template-variants.sh, which lints the template with the SnapStart parameter off and on.
"""
import argparse, json, os, sys

from cfnlint.decode import decode
from cfnlint.template.transforms._sam import Transform

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def transform(template_path, values):
    template, matches = decode(template_path)
    if template is None:
        raise SystemExit("cannot decode {}: {}".format(template_path, matches))
    # cfn-lint's wrapper swaps an intrinsic AutoPublishCodeSha256 for "fakesha"; the transform CloudFormation runs
    # resolves a parameter's Ref there to its value (samtranslator resolve_parameter_refs), so do that here first.
    given = dict(values)
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties") or {}
        salt = properties.get("AutoPublishCodeSha256")
        if isinstance(salt, dict) and list(salt) == ["Ref"] and salt["Ref"] in template.get("Parameters", {}):
            properties["AutoPublishCodeSha256"] = str(given.get(salt["Ref"], template["Parameters"][salt["Ref"]].get("Default", "")))
    # cfn-lint's own wrapper (it swaps local CodeUri for S3 ones first); it passes no parameter values, so set them.
    sam = Transform(template_path, template, "us-east-1")
    sam._parameters = dict(values)
    problems = sam.transform_template()
    if problems:
        raise SystemExit("\n".join(str(p) for p in problems))
    return sam.template()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--template", default=os.path.join(ROOT, "template.yaml"))
    ap.add_argument("values", nargs="*", metavar="Name=Value")
    args = ap.parse_args()
    values = [v.split("=", 1) for v in args.values]
    json.dump(transform(args.template, values), sys.stdout, indent=1, default=str)
    print()


if __name__ == "__main__":
    main()
