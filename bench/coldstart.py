#!/usr/bin/env python3
"""Cold-start harness: each function, loaded as the managed dotnet10 runtime loads it, in fresh processes.

Usage: python3 bench/coldstart.py [--runs N] [--out FILE] [--compare-jit] [--baseline GIT_REF]

Starts moto_server on a free 127.0.0.1 port, creates the Batch queue, job definition and the template's table there,
publishes the four functions (the SAM build targets) and an empty Task<Stream> Handler(Stream) class library, then
runs bench/BatchSync.ColdStartHost N times per target, interleaved: each run is a fresh process that loads the handler
by its handler string from its artifact folder, makes one instance and one invocation against moto, and reports the
time from process start to the first response and its peak working set. Medians and ratios to the empty handler are
printed as a Markdown table (and written to --out as JSON).
"""
import argparse, json, os, shutil, socket, statistics, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FUNCTIONS = {
    "SubmitJob": ("SubmitJobFunction", "BatchSync.SubmitJob::BatchSync.SubmitJob.Function::HandleAsync"),
    "JobStateChange": ("JobStateChangeFunction", "BatchSync.JobStateChange::BatchSync.JobStateChange.Function::HandleAsync"),
    "Callback": ("CallbackFunction", "BatchSync.Callback::BatchSync.Callback.Function::HandleAsync"),
    "Reconcile": ("ReconcileFunction", "BatchSync.Reconcile::BatchSync.Reconcile.Function::HandleAsync"),
}
EMPTY = "EmptyHandler::EmptyHandler.Function::Handler"
# The least a function calling AWS can do (bench/FloorHandlers): one plain HTTP POST, and one SigV4-signed POST.
FLOORS = {
    "Floor: one HTTP call": "FloorHandlers::FloorHandlers.HttpCall::Handler",
    "Floor: one signed call": "FloorHandlers::FloorHandlers.SignedCall::Handler",
}
REGION = "us-east-1"
STACK = "bench"


def run(cmd, **kw):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--out")
    ap.add_argument("--compare-jit", action="store_true", help="also measure each function built without ReadyToRun")
    ap.add_argument("--baseline", metavar="GIT_REF", help="also measure each function built from GIT_REF (before -> after in one run)")
    args = ap.parse_args()
    import boto3
    from cfnlint.decode import decode

    work = tempfile.mkdtemp(prefix="batchsync-coldstart-")
    sock = socket.socket(); sock.bind(("127.0.0.1", 0)); port = sock.getsockname()[1]; sock.close()
    moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], env=dict(os.environ, MOTO_PORT=str(port)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(endpoint + "/moto-api/"); break
            except Exception:
                time.sleep(0.1)
        req = urllib.request.Request(endpoint + "/moto-api/config", method="POST", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"batch": {"use_docker": False}}).encode())
        urllib.request.urlopen(req)
        kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="bench", aws_secret_access_key="bench")
        iam, batch, ddb = boto3.client("iam", **kw), boto3.client("batch", **kw), boto3.client("dynamodb", **kw)
        role = iam.create_role(RoleName="bench", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        ce = batch.create_compute_environment(computeEnvironmentName="bench-ce", type="UNMANAGED", state="ENABLED", serviceRole=role)
        batch.create_job_queue(jobQueueName="bench-queue", state="ENABLED", priority=1,
                               computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce["computeEnvironmentArn"]}])
        batch.register_job_definition(jobDefinitionName="bench-job", type="container", containerProperties={"image": "busybox", "vcpus": 1, "memory": 128})
        template, _ = decode(os.path.join(ROOT, "template.yaml"))
        props = template["Resources"]["JobTable"]["Properties"]
        ddb.create_table(TableName="bench-jobs", BillingMode=props["BillingMode"], AttributeDefinitions=props["AttributeDefinitions"],
                         KeySchema=props["KeySchema"], GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"])

        artifacts = {}
        for name, (logical, _) in FUNCTIONS.items():
            artifacts[name] = os.path.join(work, name)
            run(["make", "--no-print-directory", f"build-{logical}", f"ARTIFACTS_DIR={artifacts[name]}"], cwd=ROOT)
        if args.compare_jit:
            for name in list(FUNCTIONS):
                project = {"SubmitJob": "SubmitJob", "JobStateChange": "JobStateChange", "Callback": "Callback", "Reconcile": "Reconcile"}[name]
                artifacts[name + " (JIT)"] = os.path.join(work, name + "-jit")
                run(["dotnet", "publish", "--nologo", "-c", "Release", "-o", artifacts[name + " (JIT)"], f"functions/{project}/{project}.csproj"], cwd=ROOT)
        variants = [""] + ([" (JIT)"] if args.compare_jit else [])
        if args.baseline:
            tree = os.path.join(work, "baseline-tree")
            subprocess.run(["git", "worktree", "add", "--detach", tree, args.baseline], cwd=ROOT, check=True, capture_output=True)
            try:
                for name, (logical, _) in FUNCTIONS.items():
                    artifacts[f"{name} ({args.baseline})"] = os.path.join(work, name + "-baseline")
                    run(["make", "--no-print-directory", f"build-{logical}", f"ARTIFACTS_DIR={artifacts[name + f' ({args.baseline})']}"], cwd=tree)
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", tree], cwd=ROOT, check=True, capture_output=True)
            variants.append(f" ({args.baseline})")
        artifacts["Empty"] = os.path.join(work, "Empty")
        run(["dotnet", "publish", "--nologo", "-c", "Release", "-o", artifacts["Empty"], "bench/EmptyHandler/EmptyHandler.csproj"], cwd=ROOT)
        floors = os.path.join(work, "Floors")
        run(["dotnet", "publish", "--nologo", "-c", "Release", "-r", "linux-x64", "--self-contained", "false", "-p:PublishReadyToRun=true",
             "-o", floors, "bench/FloorHandlers/FloorHandlers.csproj"], cwd=ROOT)
        for name in FLOORS:
            artifacts[name] = floors
        host_dir = os.path.join(work, "host")
        run(["dotnet", "publish", "--nologo", "-c", "Release", "-o", host_dir, "bench/BatchSync.ColdStartHost/BatchSync.ColdStartHost.csproj"], cwd=ROOT)

        env = dict(os.environ, AWS_REGION=REGION, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                   BATCHSYNC_TABLE="bench-jobs", BATCHSYNC_NAMESPACE=STACK)

        def host(target, handler, payload):
            path = os.path.join(work, "payload.json")
            with open(path, "w") as f:
                json.dump(payload, f)
            out = subprocess.run(["dotnet", os.path.join(host_dir, "coldstart-host.dll"), artifacts[target], handler, path],
                                 env=env, capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"coldstart-host failed for {target}: {out.stderr[-2000:]}")
            return json.loads(out.stdout.strip().splitlines()[-1])

        def submit_payload(i):
            return {"JobName": f"bench-{i}", "JobQueue": "bench-queue", "JobDefinition": "bench-job",
                    "Parameters": {"InputFile": f"s3://in/{i}"}, "ContainerOverrides": {"Environment": [{"Name": "I", "Value": str(i)}]},
                    "TaskToken": f"bench-token-{i}-{time.time_ns()}"}

        results = {name: [] for name in ["Empty", *FLOORS] + [f + v for v in variants for f in FUNCTIONS]}
        for i in range(args.runs):
            results["Empty"].append(host("Empty", EMPTY, {}))
            for name, handler in FLOORS.items():
                results[name].append(host(name, handler, {}))
            submitted = host("SubmitJob", FUNCTIONS["SubmitJob"][1], submit_payload(i))
            for v, suffix in enumerate(variants):
                if suffix:
                    submitted = host("SubmitJob" + suffix, FUNCTIONS["SubmitJob"][1], submit_payload(f"v{v}-{i}"))
                results["SubmitJob" + suffix].append(submitted)
                job_id = json.loads(submitted["outcome"])["JobId"]
                results["Callback" + suffix].append(host("Callback" + suffix, FUNCTIONS["Callback"][1], {"JobId": job_id, "Result": {"Rows": i}}))
                detail = batch.describe_jobs(jobs=[job_id])["jobs"][0]
                event = {"version": "0", "id": f"e{i}", "detail-type": "Batch Job State Change", "source": "aws.batch", "account": "123456789012",
                         "time": "2026-11-25T00:00:00Z", "region": REGION, "resources": [detail["jobArn"]], "detail": detail}
                results["JobStateChange" + suffix].append(host("JobStateChange" + suffix, FUNCTIONS["JobStateChange"][1], event))
                results["Reconcile" + suffix].append(host("Reconcile" + suffix, FUNCTIONS["Reconcile"][1],
                                                 {"version": "0", "id": f"s{i}", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}))

        for name, runs in results.items():
            bad = [r["outcome"] for r in runs if r["outcome"].startswith("error")]
            if bad:
                sys.exit(f"{name}: {bad[0]}")
        base_ms = statistics.median(r["firstResponseMs"] for r in results["Empty"])
        base_mem = statistics.median(r["peakWorkingSetMiB"] for r in results["Empty"])
        summary = {}
        print(f"| handler | time to first response (median of {args.runs}) | × empty | peak working set (median) | × empty |")
        print("|---|---:|---:|---:|---:|")
        for name, runs in results.items():
            ms = statistics.median(r["firstResponseMs"] for r in runs)
            mem = statistics.median(r["peakWorkingSetMiB"] for r in runs)
            summary[name] = {"firstResponseMs": ms, "peakWorkingSetMiB": mem, "timeRatio": round(ms / base_ms, 2), "memoryRatio": round(mem / base_mem, 2),
                             "samplesMs": [r["firstResponseMs"] for r in runs]}
            print(f"| {name} | {ms:.0f} ms | {ms / base_ms:.2f} | {mem:.1f} MiB | {mem / base_mem:.2f} |")
        print()
        print("| artifact | size |")
        print("|---|---:|")
        for name in artifacts:
            if name == "Empty" or name in FLOORS:
                continue
            size = sum(os.path.getsize(os.path.join(artifacts[name], f)) for f in os.listdir(artifacts[name]))
            summary[name]["artifactKiB"] = round(size / 1024)
            print(f"| {name} | {size / 1024:.0f} KiB |")
        if args.out:
            with open(args.out, "w") as f:
                json.dump(summary, f, indent=1)
    finally:
        moto.terminate()
        moto.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
