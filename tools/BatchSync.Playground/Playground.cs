using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.LocalWorld;

namespace BatchSync.Playground;

/// <summary>
/// The README's state machine end to end without AWS. The four functions are built as <c>sam build</c> builds them
/// (the Makefile's targets) and loaded from those artifacts as the managed runtime loads them; moto (on a free loopback
/// port) plays AWS, with a fake Docker engine so its Batch walks each job through every state; the template's table,
/// queues and rules (their real patterns) are created there. The playground plays what moto does not: the Lambda
/// service (it reads the scheduled SubmitJob payload from the execution history and invokes the function; it drains
/// each rule's queue into its function), Batch's events (built from DescribeJobs at each state change, routed through
/// the template's rule), and the job's own code (Callback calls, the container's exit).
/// </summary>
public sealed partial class Playground(Options options, Cleanup cleanup, Timeline timeline)
{
    private static readonly JsonObject ExecutionInput = new() { ["inputFile"] = "s3://reports/2026-11-24.csv", ["date"] = "2026-11-24" };
    // Printed only: quotes inside strings (a service job's payload) read as \" rather than \u0022.
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private static readonly string[] Terminal = ["SUCCEEDED", "FAILED"];

    private readonly Dictionary<string, FunctionArtifact> _functions = new();
    private readonly Dictionary<string, FunctionLog> _logs = new();
    private AwsWorld _world = null!;
    private FakeDockerEngine? _engine;
    private WireRecorder _wire = null!;

    public async Task<int> RunAsync()
    {
        var started = Stopwatch.StartNew();
        var root = SamTemplate.RepoRoot;
        timeline.Block($"BatchSync playground: the README's state machine end to end, {Describe(options.Scenario)}.");
        if (options.Scenario == Scenario.Spoke)
        {
            return await RunSpokeAsync(started);
        }
        if (options.Scenario == Scenario.ServiceJob)
        {
            return await RunServiceJobAsync(started);
        }

        var artifacts = options.Artifacts ?? Path.Combine(root, "artifacts", "playground");
        var buildTime = options.Artifacts is null && !options.SetupOnly ? await BuildAsync(root, artifacts) : TimeSpan.Zero;
        var afterBuild = Stopwatch.StartNew();

        await StartWorldAsync();
        var (stateMachineArn, queue, definition) = await CreateResourcesAsync(root);
        if (options.SetupOnly)
        {
            timeline.Block("");
            timeline.Block($"OK: stack {_world.StackName}'s resources are at {_world.Endpoint} ({_world.Region}); job queue {queue}, job definition {definition}.");
            return 0;
        }
        LoadFunctions(artifacts);

        var outcome = await RunExecutionAsync(stateMachineArn, queue, definition);
        var ok = Report(outcome);
        timeline.Block("");
        timeline.Block($"{(ok ? "OK" : "FAILED")}: {outcome.Summary}. {afterBuild.Elapsed.TotalSeconds:0} s after the build" +
                       (options.Artifacts is null ? $" ({buildTime.TotalSeconds:0} s building)" : "") + $", {started.Elapsed.TotalSeconds:0} s in all.");
        if (!ok)
        {
            DumpLogs();
        }
        return ok ? 0 : 1;
    }

    private static string Describe(Scenario scenario) => scenario switch
    {
        Scenario.Succeed => "a job that succeeds",
        Scenario.Fail => "a job that fails (--fail)",
        Scenario.Result => "a job that reports a Result through Callback (--result)",
        Scenario.Spoke => "a tenant's state machine in another account and region, relayed to the hub (--spoke)",
        Scenario.ServiceJob => "a SageMaker Training job queued through Batch, a service job (--service-job)",
        _ => "an execution stopped while its job runs (--stop)",
    };

    // ---- build -------------------------------------------------------------------------------------------------

    /// <summary>make build-&lt;Function&gt; ARTIFACTS_DIR=..., what `sam build` runs; skipped when newer than every source.</summary>
    private async Task<TimeSpan> BuildAsync(string root, string artifacts)
    {
        var clock = Stopwatch.StartNew();
        var functions = SamTemplate.Functions();
        timeline.Section($"Build: {string.Join(", ", functions.Select(f => $"make build-{f}"))} (as `sam build` does)");
        var stamp = Path.Combine(artifacts, ".built");
        var sources = new[] { "functions", "Makefile", "Directory.Build.props", "Directory.Packages.props", "global.json" }
            .Select(p => Path.Combine(root, p))
            .SelectMany(p => Directory.Exists(p)
                ? Directory.EnumerateFiles(p, "*", SearchOption.AllDirectories).Where(f => !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}"))
                : File.Exists(p) ? [p] : []);
        var newest = sources.Select(File.GetLastWriteTimeUtc).DefaultIfEmpty(DateTime.MaxValue).Max();
        if (!options.Rebuild && File.Exists(stamp) && File.GetLastWriteTimeUtc(stamp) > newest
            && functions.All(f => Directory.Exists(Path.Combine(artifacts, f))))
        {
            timeline.Note($"{artifacts}: newer than every source, reused (--rebuild to build anyway)");
            return clock.Elapsed;
        }
        Directory.CreateDirectory(artifacts);
        File.Delete(stamp);
        foreach (var function in functions)
        {
            var step = Stopwatch.StartNew();
            var directory = Path.Combine(artifacts, function);
            var start = new ProcessStartInfo("make", ["--no-print-directory", $"build-{function}", $"ARTIFACTS_DIR={directory}"])
            {
                WorkingDirectory = root,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            Process process;
            try
            {
                process = Process.Start(start)!;
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                throw new PlaygroundException($"make could not be started ({e.Message}): the SAM build targets are make targets.");
            }
            using (process)
            {
                var child = cleanup.Add(new ChildProcess(process));
                var output = process.StandardOutput.ReadToEndAsync();
                var error = process.StandardError.ReadToEndAsync();
                await process.WaitForExitAsync();
                cleanup.Remove(child);
                if (process.ExitCode != 0)
                {
                    throw new PlaygroundException($"make build-{function} failed:\n{await output}{await error}");
                }
            }
            timeline.Note($"{function}: {directory} ({Directory.GetFiles(directory).Length} files, {step.Elapsed.TotalSeconds:0.0} s)");
        }
        await File.WriteAllTextAsync(stamp, DateTime.UtcNow.ToString("O"));
        return clock.Elapsed;
    }

    // ---- the world ---------------------------------------------------------------------------------------------

    private async Task StartWorldAsync()
    {
        // The credential chain needs credentials; moto takes any. Yours are used when set (e.g. for --endpoint).
        foreach (var (name, value) in new[] { ("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing") })
        {
            if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(name)))
            {
                Environment.SetEnvironmentVariable(name, value);
            }
        }
        string endpoint, stack;
        if (options.Endpoint is null)
        {
            _engine = cleanup.Add(new FakeDockerEngine());
            var moto = cleanup.Add(new MotoServer(new Dictionary<string, string> { ["DOCKER_HOST"] = _engine.DockerHost }));
            endpoint = moto.Endpoint;
            stack = "batchsync-try";
            timeline.Section($"World: moto_server at {endpoint} (started here, stopped at the end)");
            timeline.Note($"a fake Docker engine at {_engine.DockerHost} answers moto's container calls, so its Batch walks every job state");
        }
        else
        {
            endpoint = options.Endpoint.TrimEnd('/');
            // Names of their own, so several runs can share one endpoint.
            stack = options.Stack ?? $"try-{Guid.NewGuid():N}"[..10];
            timeline.Section($"World: {endpoint} (--endpoint; nothing started here)");
        }
        await ConfigureMotoAsync(endpoint);
        _world = new AwsWorld(endpoint, options.Region, stack);
        _wire = cleanup.Add(new WireRecorder(endpoint));
        _wire.Recorded += ShowWireCall;
    }

    /// <summary>moto's switches: real state machines, canned Lambda, Batch in Docker mode walking a state every 2 s.</summary>
    private async Task ConfigureMotoAsync(string endpoint)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        async Task<bool> PostAsync(string path, string json)
        {
            try
            {
                using var answer = await http.PostAsync(endpoint + path, new StringContent(json, Encoding.UTF8, "application/json"));
                return answer.IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }
        // Another endpoint's moto has no engine of ours: its Batch runs in simple mode (every job ends at once).
        var config = new JsonObject
        {
            ["batch"] = new JsonObject { ["use_docker"] = _engine is not null },
            ["lambda"] = new JsonObject { ["use_docker"] = false },
            ["stepfunctions"] = new JsonObject { ["execute_state_machine"] = true },
        };
        var configured = await PostAsync("/moto-api/config", config.ToJsonString())
            & await PostAsync("/moto-api/state-manager/set-transition", """{"model_name":"batch::job","transition":{"progression":"time","seconds":2}}""");
        if (configured && _engine is null)
        {
            timeline.Note("moto: state machines run, Lambda is canned, Batch in its simple mode (jobs end at once: no Docker engine of ours there)");
        }
        if (!configured)
        {
            if (options.Endpoint is null)
            {
                throw new PlaygroundException("moto_server refused its configuration (/moto-api/config, set-transition): is it moto 5?");
            }
            timeline.Note("not moto (no /moto-api): used as it is; its state machines must run and its Batch must finish jobs");
        }
    }

    private async Task<(string StateMachineArn, string Queue, string Definition)> CreateResourcesAsync(string root)
    {
        var stack = _world.StackName;
        timeline.Note($"region {_world.Region}, stack name {stack}: created from template.yaml");
        await _world.CreateTableFromTemplateAsync();
        timeline.Note($"table      {_world.TableName} (JobTable: keys and indexes as declared)");
        var queues = await _world.CreateTemplateQueuesAsync();
        timeline.Note($"queues     {string.Join(", ", queues.Keys.Select(q => $"{stack}-{q}"))}");
        foreach (var (function, eventName, pattern) in SamTemplate.EventRules(stack))
        {
            var route = await _world.CreateRouteAsync(pattern, $"{stack}-{eventName}");
            _routes[function] = route;
            timeline.Note($"rule       {route.Rule} -> {function} (pattern from template.yaml; an SQS queue stands in for the function)");
        }
        var (queue, definition, role) = await _world.CreateBatchAsync(stack);
        timeline.Note($"Batch      job queue {queue}, job definition {definition} (not in the template: your jobs)");
        var functionArn = await _world.CreateStandInFunctionAsync($"{stack}-SubmitJob", role);
        var example = Path.Combine(root, "examples", "state-machine.asl.json");
        var text = await File.ReadAllTextAsync(example);
        // moto only takes SendTaskHeartbeat for states that set HeartbeatSeconds (DEVELOPERS.md).
        const string resultPath = "\"ResultPath\": \"$.job\",";
        if (!text.Contains(resultPath))
        {
            throw new PlaygroundException($"{example} no longer has {resultPath}: the playground adds HeartbeatSeconds after it.");
        }
        text = text.Replace("${SubmitJobFunctionArn}", functionArn).Replace("${JobQueue}", queue).Replace("${JobDefinition}", definition)
            .Replace(resultPath, resultPath + "\n      \"HeartbeatSeconds\": 600,");
        var machine = await _world.SfnAsync("CreateStateMachine", new JsonObject { ["name"] = $"{stack}-readme-example", ["definition"] = text, ["roleArn"] = role });
        timeline.Note($"state machine examples/state-machine.asl.json as {stack}-readme-example, plus \"HeartbeatSeconds\": 600 (moto takes heartbeats only then)");
        timeline.Note($"SubmitJobFunctionArn = {functionArn} (a stand-in in moto's Lambda: the playground plays Lambda)");

        // The functions' environment, as the template gives it (Globals), pointing at this world.
        var physical = new Dictionary<string, string>(queues) { ["JobTable"] = _world.TableName, ["AWS::AccountId"] = AwsWorld.Account };
        var environment = SamTemplate.FunctionEnvironment(stack, physical);
        foreach (var (name, value) in environment)
        {
            Environment.SetEnvironmentVariable(name, value);
        }
        Environment.SetEnvironmentVariable("AWS_REGION", _world.Region);
        Environment.SetEnvironmentVariable("AWS_ENDPOINT_URL", _world.Endpoint);
        Environment.SetEnvironmentVariable("AWS_ENDPOINT_URL_SFN", _wire.Endpoint);
        Environment.SetEnvironmentVariable("AWS_ENDPOINT_URL_BATCH", null);
        Environment.SetEnvironmentVariable("AWS_ENDPOINT_URL_DYNAMODB", null);
        timeline.Note($"functions' environment (template Globals): {string.Join(", ", environment.Select(e => $"{e.Key}={e.Value}"))}");
        if (!options.SetupOnly)
        {
            timeline.Note($"  plus AWS_REGION={_world.Region}, AWS_ENDPOINT_URL={_world.Endpoint}, AWS_ENDPOINT_URL_SFN={_wire.Endpoint} (a pass-through that shows what BatchSync sends Step Functions)");
        }
        return ((string)machine["stateMachineArn"]!, queue, definition);
    }

    private readonly Dictionary<string, AwsWorld.RuleRoute> _routes = new();
    private string _queue = "";
    private string _jobName = "nightly-report";

    private void LoadFunctions(string artifacts)
    {
        foreach (var function in SamTemplate.Functions())
        {
            var artifact = FunctionArtifact.Load(Path.Combine(artifacts, function), SamTemplate.Handler(function));
            var log = new FunctionLog(function.Replace("Function", ""), timeline, options.Logs);
            artifact.RedirectLogs(log);
            _functions[function] = artifact;
            _logs[function] = log;
        }
        timeline.Note($"functions loaded from {artifacts}/<Function> by their handler strings, each in its own load context (deps.json), as the dotnet10 runtime does");
    }

    // ---- the execution -----------------------------------------------------------------------------------------

    private sealed record Outcome(bool Expected, string Summary, JsonObject Execution);

    private async Task<Outcome> RunExecutionAsync(string stateMachineArn, string queue, string definition)
    {
        _queue = queue;
        timeline.Section("Timeline");
        timeline.StartClock();
        JsonNode execution;
        try
        {
            execution = await _world.SfnAsync("StartExecution", new JsonObject
            {
                ["stateMachineArn"] = stateMachineArn, ["name"] = $"try-{options.Scenario.ToString().ToLowerInvariant()}", ["input"] = ExecutionInput.ToJsonString(),
            });
        }
        catch (Aws.AwsServiceException e) when (options.Endpoint is not null && e.StatusCode >= System.Net.HttpStatusCode.InternalServerError)
        {
            throw new PlaygroundException($"StartExecution failed ({e.Message}). moto runs one execution per region and server: " +
                                          $"this endpoint has run one in {_world.Region} already; pass --region with another region.");
        }
        var executionArn = (string)execution["executionArn"]!;
        timeline.Line("Step Functions", $"StartExecution {executionArn[(executionArn.LastIndexOf(':') + 1)..]}, input {ExecutionInput.ToJsonString()}");

        var payload = await _world.ScheduledPayloadAsync(executionArn);
        var token = (string?)payload["TaskToken"] ?? "";
        timeline.Line("Step Functions", $"RunBatchJob invokes SubmitJob (lambda:invoke.waitForTaskToken): JobName {(string?)payload["JobName"]}, " +
                                        $"JobQueue {queue}, JobDefinition {definition}, TaskToken ({token.Length} characters)");
        var submitted = await InvokeAsync("SubmitJobFunction", payload);
        if (submitted is null || submitted["Error"] is not null || submitted["JobId"] is null)
        {
            var failed = await _world.WaitForExecutionAsync(executionArn, e => (string?)e["status"] != "RUNNING");
            return new Outcome(false, $"SubmitJob did not submit the job ({submitted?.ToJsonString() ?? "it failed"})", failed);
        }
        var jobId = (string)submitted["JobId"]!;
        timeline.Line("SubmitJob", $"recorded the task (token kept in DynamoDB), submitted job {jobId}, responded {Compact(submitted)}");

        var (jobStatus, statusReason, stop) = await FollowJobAsync(jobId, executionArn);
        var final = options.Scenario == Scenario.Stop
            ? (await _world.SfnAsync("DescribeExecution", new JsonObject { ["executionArn"] = executionArn })).AsObject()
            : await _world.WaitForExecutionAsync(executionArn, e => (string?)e["status"] != "RUNNING");
        timeline.Line("Step Functions", $"execution {(string?)final["status"]}" + (final["error"] is { } error ? $", error {error}" : ""));
        return options.Scenario switch
        {
            Scenario.Succeed or Scenario.Result => Succeeded(final, jobId),
            Scenario.Fail => Failed(final, jobStatus),
            _ => Stopped(final, executionArn, jobStatus, statusReason, stop),
        };
    }

    /// <summary>Polls DescribeJobs; at each new state, routes Batch's event through the template's rule to JobStateChange.</summary>
    private async Task<(string Status, string? Reason, JsonObject? StopAnswer)> FollowJobAsync(string jobId, string executionArn)
    {
        var route = _routes["JobStateChangeFunction"];
        string? last = null;
        JsonObject? stopAnswer = null;
        var acted = false;
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (true)
        {
            // ListJobs to watch (moto appends another AWS_BATCH_JOB_ID to the job on every DescribeJobs), DescribeJobs
            // once per new state to build Batch's event, whose detail is the DescribeJobs JobDetail.
            var status = await StatusAsync(jobId) ?? "SUBMITTED";
            if (status != last)
            {
                var detail = JsonNode.Parse((await _world.Batch.DescribeJobDetailsAsync([jobId])).Single().GetRawText())!.AsObject();
                status = (string)detail["status"]!;
                last = status;
                var reason = (string?)detail["statusReason"];
                timeline.Line("Batch", $"job {status}" + (reason is null ? "" : $": {reason}"));
                if (!acted && _engine is null && Terminal.Contains(status))
                {
                    // Another endpoint's Batch may finish a job at once (moto's simple mode): its code reports before the event is routed.
                    acted = true;
                    stopAnswer = await PlayJobAsync(jobId, executionArn);
                }
                var delivered = await route.DeliverAsync([_world.BuildEvent(detail)], expect: 1);
                if (delivered.Count == 0)
                {
                    timeline.Line("EventBridge", $"rule {route.Rule} did not match the event: nothing invoked");
                }
                foreach (var evt in delivered)
                {
                    timeline.Line("EventBridge", $"\"Batch Job State Change\" ({status}) matched rule {route.Rule} -> JobStateChange");
                    var answer = await InvokeAsync("JobStateChangeFunction", evt);
                    if (answer is not null)
                    {
                        timeline.Line("JobStateChange", Compact(answer));
                    }
                }
                if (Terminal.Contains(status))
                {
                    return (status, reason, stopAnswer);
                }
            }
            if (!acted && status == "RUNNING")
            {
                acted = true;
                stopAnswer = await PlayJobAsync(jobId, executionArn);
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new PlaygroundException($"job {jobId} did not finish within 90 s (last status {last})");
            }
            await Task.Delay(250);
        }
    }

    private async Task<string?> StatusAsync(string jobId)
    {
        var answer = await _world.BatchAsync("ListJobs", new JsonObject
        {
            ["jobQueue"] = _queue,
            ["filters"] = new JsonArray(new JsonObject { ["name"] = "JOB_NAME", ["values"] = new JsonArray(_jobName) }),
        });
        return (string?)answer["jobSummaryList"]?.AsArray().FirstOrDefault(j => (string?)j!["jobId"] == jobId)?["status"];
    }

    /// <summary>What happens while the job runs: its code (played here) reports through Callback and exits, or you stop the execution.</summary>
    private async Task<JsonObject?> PlayJobAsync(string jobId, string executionArn)
    {
        FakeContainer? container = null;
        for (var i = 0; _engine is not null && container is null && i < 40; i++)
        {
            container = _engine.ForJob(jobId);
            if (container is null)
            {
                await Task.Delay(100);
            }
        }
        if (container is not null)
        {
            timeline.Line("job's code", $"container running (image {container.Image}, AWS_BATCH_JOB_ID={container.JobId}); the playground plays its code");
        }
        else
        {
            timeline.Line("job's code", "no container seen (--endpoint): the job runs as that endpoint runs it");
        }
        switch (options.Scenario)
        {
            case Scenario.Result:
                foreach (var request in new[]
                {
                    new JsonObject { ["JobId"] = jobId, ["Heartbeat"] = true },
                    new JsonObject { ["JobId"] = jobId, ["Result"] = new JsonObject { ["OutputUri"] = "s3://reports/out/2026-11-24.parquet", ["Rows"] = 1200 } },
                })
                {
                    timeline.Line("job's code", $"aws lambda invoke Callback {Compact(request)}");
                    var answer = await InvokeAsync("CallbackFunction", request);
                    if (answer is not null)
                    {
                        timeline.Line("Callback", Compact(answer));
                    }
                }
                Exit(container, 0);
                return null;
            case Scenario.Fail:
                Exit(container, 1);
                return null;
            case Scenario.Stop:
                timeline.Line("you", "StopExecution (aws stepfunctions stop-execution)");
                await _world.SfnAsync("StopExecution", new JsonObject { ["executionArn"] = executionArn });
                // moto accepts the stop but sends no "Step Functions Execution Status Change" event (DEVELOPERS.md): this is it.
                var evt = await _world.ExecutionStatusChangeEventAsync(executionArn, "ABORTED");
                var route = _routes["ReconcileFunction"];
                JsonObject? reconciled = null;
                foreach (var delivered in await route.DeliverAsync([evt], expect: 1))
                {
                    timeline.Line("EventBridge", $"\"Step Functions Execution Status Change\" (ABORTED) matched rule {route.Rule} -> Reconcile");
                    reconciled = await InvokeAsync("ReconcileFunction", delivered);
                    if (reconciled is not null)
                    {
                        timeline.Line("Reconcile", Compact(reconciled));
                    }
                }
                if (reconciled is null)
                {
                    timeline.Line("EventBridge", $"rule {route.Rule} did not match the ABORTED event");
                }
                return reconciled;
            default:
                Exit(container, 0);
                return null;
        }
    }

    private void Exit(FakeContainer? container, int code)
    {
        if (container is not null && _engine is not null)
        {
            timeline.Line("job's code", $"exits with code {code}");
            _engine.Exit(container, code);
        }
    }

    private async Task<JsonObject?> InvokeAsync(string function, JsonNode payload)
    {
        try
        {
            await using var output = await _functions[function].Handler(new MemoryStream(Encoding.UTF8.GetBytes(payload.ToJsonString())));
            return JsonNode.Parse(output)!.AsObject();
        }
        catch (Exception e)
        {
            var inner = e is System.Reflection.TargetInvocationException { InnerException: { } i } ? i : e;
            timeline.Line(function.Replace("Function", ""), $"failed: {inner.GetType().Name}: {inner.Message}");
            return null;
        }
    }

    private void ShowWireCall(WireCall call)
    {
        if (!call.Operation.StartsWith("SendTask", StringComparison.Ordinal))
        {
            return;
        }
        var request = call.Request;
        var answer = call.ErrorCode is { } code ? $"refused: {code}" : "accepted";
        var what = call.Operation switch
        {
            "SendTaskSuccess" => $"output {Encoding.UTF8.GetByteCount((string?)request["output"] ?? "")} bytes " +
                                 (options.Scenario == Scenario.ServiceJob ? "(the service job's DescribeServiceJob detail, PascalCase)" : "(the job's JobDetail, PascalCase)"),
            "SendTaskFailure" => $"error {(string?)request["error"]}, cause {Clip((string?)request["cause"] ?? "", 110)}",
            _ => "",
        };
        // The spoke scenario says who sent it, and to which region's Step Functions (the signature's scope), after the
        // AssumeRole that gave the function those credentials.
        if (_gate is not null)
        {
            ShowGateDecisions();
        }
        var signer = call.Caller is { } caller ? $"as {caller} in {call.SigningRegion} " : "";
        timeline.Line("Step Functions", $"<- {call.Operation} {what}{(what.Length > 0 ? " " : "")}{signer}({answer})");
    }

    // ---- the report --------------------------------------------------------------------------------------------

    private Outcome Succeeded(JsonObject execution, string jobId)
    {
        var status = (string?)execution["status"];
        var output = execution["output"] is { } text ? JsonNode.Parse((string)text!) : null;
        var job = output?["job"];
        var expectResult = options.Scenario == Scenario.Result;
        var ok = status == "SUCCEEDED" && (string?)job?["Status"] == "SUCCEEDED" && (string?)job?["JobId"] == jobId
                 && (!expectResult || (int?)job?["Result"]?["Rows"] == 1200);
        return new Outcome(ok, ok
            ? $"the execution SUCCEEDED with the job's native JobDetail as $.job{(expectResult ? ", plus the Result its code reported" : "")}"
            : $"expected a SUCCEEDED execution whose $.job is job {jobId}'s JobDetail{(expectResult ? " with Result.Rows 1200" : "")}; got {status}", execution);
    }

    private Outcome Failed(JsonObject execution, string jobStatus)
    {
        var failure = _wire.Calls.LastOrDefault(c => c.Operation == "SendTaskFailure");
        var sentError = (string?)failure?.Request["error"];
        var cause = (string?)failure?.Request["cause"];
        var causeStatus = cause is null ? null : (string?)JsonNode.Parse(cause)?["Status"];
        var status = (string?)execution["status"];
        var ok = jobStatus == "FAILED" && status == "FAILED" && sentError == "States.TaskFailed" && causeStatus == "FAILED";
        return new Outcome(ok, ok
            ? "the job FAILED; BatchSync failed the task with States.TaskFailed and the job's JobDetail as cause, and the execution FAILED"
            : $"expected job FAILED, SendTaskFailure States.TaskFailed with a FAILED JobDetail as cause, execution FAILED; got job {jobStatus}, {sentError ?? "no SendTaskFailure"}, execution {status}", execution);
    }

    private Outcome Stopped(JsonObject execution, string executionArn, string jobStatus, string? reason, JsonObject? reconciled)
    {
        // The native integration's reason (README, "What happens when...").
        var expected = $"The Task state in AWS Step Functions execution [{executionArn}] which was managing this resource was aborted";
        var ok = jobStatus == "FAILED" && reason == expected && (int?)reconciled?["Terminated"] == 1;
        return new Outcome(ok, ok
            ? "the execution was stopped; Reconcile terminated its job, which FAILED with the native reason"
            : $"expected Reconcile to terminate 1 job and the job to FAIL with the native reason; got {(reconciled is null ? "no Reconcile answer" : Compact(reconciled))}, job {jobStatus}: {reason}", execution);
    }

    private bool Report(Outcome outcome)
    {
        var execution = outcome.Execution;
        timeline.Section($"Execution {(string?)execution["status"]}");
        if (execution["output"] is { } output)
        {
            var shown = JsonNode.Parse((string)output!)!;
            var repeats = DropRepeatedJobIdVariables(shown);
            timeline.Block(shown.ToJsonString(Indented));
            if (repeats > 0)
            {
                timeline.Block($"({repeats} {(repeats == 1 ? "repeat" : "repeats")} of the AWS_BATCH_JOB_ID variable left out above: moto appends one to the job on every DescribeJobs, DEVELOPERS.md)");
            }
        }
        if (execution["error"] is not null || execution["cause"] is not null)
        {
            timeline.Block($"error: {(string?)execution["error"]}");
            timeline.Block($"cause: {Clip((string?)execution["cause"] ?? "", 400)}");
        }
        if (options.Scenario == Scenario.Fail && _wire.Calls.LastOrDefault(c => c.Operation == "SendTaskFailure") is { } failure)
        {
            timeline.Block("");
            timeline.Block("What BatchSync sent (SendTaskFailure), as the native batch:submitJob.sync fails:");
            timeline.Block($"error: {(string?)failure.Request["error"]}");
            timeline.Block($"cause: {Clip((string?)failure.Request["cause"] ?? "", 400)}");
            timeline.Block("moto refuses SendTaskFailure error names starting with \"States.\" and fails the execution with States.Runtime");
            timeline.Block("quoting the name instead, and drops the cause; AWS passes both on (DEVELOPERS.md, moto's quirks).");
        }
        if (options.Scenario == Scenario.Stop)
        {
            timeline.Block("moto accepts StopExecution but reports an execution waiting on a task token as RUNNING, and sends no");
            timeline.Block("Status Change event: the playground sent the ABORTED event AWS would send (DEVELOPERS.md, moto's quirks).");
        }
        return outcome.Expected;
    }

    /// <summary>Leaves the first AWS_BATCH_JOB_ID of $.job.Container.Environment; returns how many repeats it removed.</summary>
    private static int DropRepeatedJobIdVariables(JsonNode output)
    {
        if (output["job"]?["Container"]?["Environment"] is not JsonArray environment)
        {
            return 0;
        }
        var repeats = environment.Where(e => (string?)e?["Name"] == "AWS_BATCH_JOB_ID").Skip(1).ToList();
        repeats.ForEach(r => environment.Remove(r));
        return repeats.Count;
    }

    private void DumpLogs()
    {
        foreach (var (function, log) in _logs.Where(l => l.Value.Lines.Count > 0))
        {
            Console.Error.WriteLine($"-- {function} log");
            foreach (var line in log.Lines)
            {
                Console.Error.WriteLine(line);
            }
        }
    }

    private static string Compact(JsonNode node) => node.ToJsonString();

    private static string Clip(string text, int max) => text.Length <= max ? text : $"{text[..max]}... ({text.Length} characters)";
}
