#!/usr/bin/env bash
# Lints template.yaml as cfn-lint (and the SAM transform it runs) sees it with each value of the SnapStart parameter.
# cfn-lint transforms with the parameters' defaults, so the "on" variant is a copy whose default is PublishedVersions.
set -euo pipefail
cd "$(dirname "$0")/.."
cfn-lint template.yaml
variant=$(mktemp ./.template-snapstart-XXXXXX.yaml)
trap 'rm -f "$variant"' EXIT
python3 - "$variant" <<'PY'
import re, sys
text = open("template.yaml").read()
pattern = r"(\n  SnapStart:\n    Type: String\n    Default: )None\n"
if not re.search(pattern, text):
    sys.exit("template.yaml: the SnapStart parameter's Default line was not found")
open(sys.argv[1], "w").write(re.sub(pattern, r"\1PublishedVersions\n", text, count=1))
PY
cfn-lint "$variant"
python3 tools/sam_transform.py SnapStart=None > /dev/null
python3 tools/sam_transform.py SnapStart=PublishedVersions > /dev/null
echo "template.yaml: cfn-lint clean and the SAM transform succeeds with SnapStart None and PublishedVersions"
