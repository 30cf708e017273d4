#!/usr/bin/env python3
"""Writes template.local.json: template.yaml plus AWS_ENDPOINT_URL in Globals, for `sam local` against a local endpoint.

Usage: python3 tools/sam_local_template.py [--endpoint URL] [--out FILE]

`sam local invoke|start-lambda` gives a function only the environment variables its template declares (values from
--env-vars override them; undeclared ones are dropped: SAM CLI's samcli/local/lambdafn/env_vars.py, aws-sam-cli#381).
template.yaml declares no endpoint variable on purpose: deployed, the functions use the public endpoints, and an
empty AWS_ENDPOINT_URL would break the AWS SDK's DynamoDB client (DEVELOPERS.md). So the local runs use this copy,
decoded by cfn-lint (as the tests read the template) and written as JSON next to template.yaml (CodeUri "." stays
right). The default endpoint is moto_server on the host's port 5000 as seen from SAM's Lambda containers.
"""
import argparse, json, os, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", default="http://host.docker.internal:5000")
    ap.add_argument("--out", default=os.path.join(ROOT, "template.local.json"))
    args = ap.parse_args()
    from cfnlint.decode import decode

    template, problems = decode(os.path.join(ROOT, "template.yaml"))
    if template is None:
        sys.exit(f"template.yaml could not be decoded: {problems}")
    variables = template["Globals"]["Function"].setdefault("Environment", {}).setdefault("Variables", {})
    variables["AWS_ENDPOINT_URL"] = args.endpoint
    with open(args.out, "w") as f:
        json.dump(template, f, indent=2, default=str)
        f.write("\n")
    print(f"{os.path.relpath(args.out)}: template.yaml with AWS_ENDPOINT_URL={args.endpoint} (for sam local only; never deploy it)")


if __name__ == "__main__":
    main()
