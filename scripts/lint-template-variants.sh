#!/usr/bin/env bash
# Lints template.yaml as cfn-lint (and the SAM transform it runs) sees it with each value of the SnapStart parameter,
# with tenants configured (TenantAccounts, OrganizationId) and with service jobs on (AllowedServiceRoles, with SnapStart
# off and on); and spoke.yaml in the hub's region and in others.
# cfn-lint transforms with the parameters' defaults, so each variant is a copy whose default is the value to check.
set -euo pipefail
cd "$(dirname "$0")/.."
variants=()
trap 'rm -f "${variants[@]}"' EXIT

# variant VAR FILE PARAMETER NEW: sets VAR to a new file holding a copy of FILE in which PARAMETER's Default is NEW
# (its Default line changed, or added after its Type line when it has none). PARAMETER is a String or a
# CommaDelimitedList.
variant() {
  local -n path=$1
  path=$(mktemp "./.variant-$3-XXXXXX.yaml")
  variants+=("$path")
  python3 - "$2" "$3" "$4" "$path" <<'PY'
import re, sys
source, name, new, out = sys.argv[1:]
text = open(source).read()
head = r"(\n  %s:\n    Type: (?:String|CommaDelimitedList)\n)" % re.escape(name)
if re.search(head + r"    Default: .*\n", text):
    text = re.sub(head + r"    Default: .*\n", lambda m: m.group(1) + "    Default: " + new + "\n", text, count=1)
elif re.search(head, text):
    text = re.sub(head, lambda m: m.group(1) + "    Default: " + new + "\n", text, count=1)
else:
    sys.exit("%s: the %s parameter (Type: String or CommaDelimitedList) was not found" % (source, name))
open(out, "w").write(text)
PY
}

cfn-lint template.yaml
variant snapstart template.yaml SnapStart PublishedVersions
cfn-lint "$snapstart"
python3 tools/sam_transform.py SnapStart=None > /dev/null
python3 tools/sam_transform.py SnapStart=PublishedVersions > /dev/null
echo "template.yaml: cfn-lint clean and the SAM transform succeeds with SnapStart None and PublishedVersions"

variant tenants template.yaml TenantAccounts '"111111111111,222222222222"'
cfn-lint "$tenants"
python3 tools/sam_transform.py --template "$tenants" TenantAccounts=111111111111,222222222222 > /dev/null
variant organization template.yaml OrganizationId '"o-abcdefghij"'
cfn-lint "$organization"
python3 tools/sam_transform.py --template "$organization" OrganizationId=o-abcdefghij > /dev/null
echo "template.yaml: cfn-lint clean and the SAM transform succeeds with TenantAccounts 111111111111,222222222222 and with OrganizationId o-abcdefghij"

# Service jobs on: a role pattern and a role, as AllowedServiceRoles takes them; with SnapStart off and on (the rule
# and its permission name the alias then).
roles="arn:aws:iam::123456789012:role/sagemaker-*,arn:aws:iam::123456789012:role/training"
variant servicejobs template.yaml AllowedServiceRoles "\"$roles\""
cfn-lint "$servicejobs"
python3 tools/sam_transform.py --template "$servicejobs" AllowedServiceRoles="$roles" > /dev/null
variant servicejobs_snapstart "$servicejobs" SnapStart PublishedVersions
cfn-lint "$servicejobs_snapstart"
python3 tools/sam_transform.py --template "$servicejobs_snapstart" AllowedServiceRoles="$roles" SnapStart=PublishedVersions > /dev/null
echo "template.yaml: cfn-lint clean and the SAM transform succeeds with AllowedServiceRoles $roles, with SnapStart None and PublishedVersions"

# HubRegion has no default: lint as it is, then with the default us-east-1, where us-east-1 is the hub's region and
# the others are not (cfn-lint checks each region given).
cfn-lint --regions us-east-1 eu-west-1 -- spoke.yaml
variant spoke spoke.yaml HubRegion us-east-1
cfn-lint --regions us-east-1 eu-west-1 ap-southeast-2 -- "$spoke"
echo "spoke.yaml: cfn-lint clean in the hub's region (us-east-1) and in others (eu-west-1, ap-southeast-2)"
