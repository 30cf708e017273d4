using System.Diagnostics;
using System.Text.Json.Nodes;
using BatchSync.Domain;
using BatchSync.LocalWorld;
using BatchSync.Model;

namespace BatchSync.Playground;

/// <summary>
/// <c>--service-job</c> (issue 21): a SageMaker Training job queued through Batch (a service job, SubmitServiceJob),
/// run by examples/service-job-state-machine.asl.json (the JSONPath form: moto's interpreter runs no JSONata). moto has
/// no service jobs, so <see cref="ServiceJobs"/>, the local world's strict stand-in for their API, sits in front of it:
/// the functions' Batch endpoint (AWS_ENDPOINT_URL_BATCH) is the stand-in, which answers the four service-job operations
/// and forwards every other call to moto. The playground plays SageMaker (it moves the job SCHEDULED → STARTING →
/// RUNNING → SUCCEEDED) and Batch's "Batch Service Job State Change" events (<see cref="ServiceJobs.EventFor"/>, the
/// User Guide's sample shape), which it routes through the template's rule for them on moto's EventBridge to
/// JobStateChange, as the other scenarios route Batch's job events.
/// </summary>
public sealed partial class Playground
{
    private const string ServiceExample = "service-job-state-machine.asl.json";
    private const string ServiceDetailType = "Batch Service Job State Change";
    private const string TrainingJobName = "nightly-training";

    /// <summary>The SageMaker execution role the payload names; the stack allows it (AllowedServiceRoles).</summary>
    private static readonly string TrainingRole = $"arn:aws:iam::{AwsWorld.Account}:role/sagemaker-training";

    /// <summary>A CreateTrainingJob request, as the User Guide's getting-started tutorial writes one.</summary>
    private static JsonObject TrainingJob(string role) => new()
    {
        ["TrainingJobName"] = TrainingJobName,
        ["RoleArn"] = role,
        ["AlgorithmSpecification"] = new JsonObject
        {
            ["TrainingImage"] = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.0.0-cpu-py310",
            ["TrainingInputMode"] = "File",
        },
        ["OutputDataConfig"] = new JsonObject { ["S3OutputPath"] = "s3://models/nightly-training/" },
        ["ResourceConfig"] = new JsonObject { ["InstanceType"] = "ml.m5.large", ["InstanceCount"] = 1, ["VolumeSizeInGB"] = 1 },
        ["StoppingCondition"] = new JsonObject { ["MaxRuntimeInSeconds"] = 3600 },
    };

    private async Task<int> RunServiceJobAsync(Stopwatch started)
    {
        var (root, artifacts, buildTime, afterBuild) = await ArtifactsAndCredentialsAsync();

        // ---- the world: moto, and the service-job stand-in in front of it.
        var moto = cleanup.Add(new MotoServer());
        moto.UseSimpleModes();
        const string stack = "batchsync-try";
        _world = new AwsWorld(moto.Endpoint, options.Region, stack);
        var jobs = cleanup.Add(new ServiceJobs(moto.Endpoint));
        _wire = cleanup.Add(new WireRecorder(moto.Endpoint));
        _wire.Recorded += ShowWireCall;
        timeline.Section($"World: moto_server at {moto.Endpoint} (started here, stopped at the end)");
        timeline.Note("moto: state machines run, Lambda is canned (the playground plays Lambda); moto has no Batch service jobs, so");
        timeline.Note($"ServiceJobs at {jobs.Endpoint} stands in for them: it answers SubmitServiceJob, DescribeServiceJob,");
        timeline.Note("TerminateServiceJob and ListServiceJobs, strictly per the official model, and forwards every other call to moto");

        timeline.Note($"region {_world.Region}, stack name {stack}: created from template.yaml, with AllowedServiceRoles={TrainingRole}");
        await _world.CreateTableFromTemplateAsync();
        timeline.Note($"table      {_world.TableName} (JobTable: keys and indexes as declared)");
        var queues = await _world.CreateTemplateQueuesAsync();
        timeline.Note($"queues     {string.Join(", ", queues.Keys.Select(q => $"{stack}-{q}"))}");
        var (pattern, ruleId, fromTemplate) = ServiceJobRulePattern(stack);
        var serviceRoute = await _world.CreateRouteAsync(pattern, $"{stack}-{ruleId}");
        timeline.Note($"rule       {serviceRoute.Rule} -> JobStateChange " +
                      (!fromTemplate
                          ? "(template.yaml has no rule for service jobs yet: the pattern issue 21 gives it; an SQS queue stands in for the function)"
                          : "(pattern from template.yaml; an SQS queue stands in for the function)"));
        timeline.Note($"           {pattern.ToJsonString()}");

        var queue = jobs.AddQueue($"{stack}-training", _world.Region);
        timeline.Note($"Batch      service job queue {queue} (type {ServiceJobs.SageMakerTraining}, in the stand-in; not in the template: your queue)");
        var role = await _world.CreateRoleAsync($"{stack}-states-role");
        var functionArn = await _world.CreateStandInFunctionAsync($"{stack}-SubmitJob", role);
        var example = Path.Combine(root, "examples", ServiceExample);
        if (!File.Exists(example))
        {
            throw new PlaygroundException($"{example} is missing: the service-job scenario runs that example.");
        }
        var text = await File.ReadAllTextAsync(example);
        // moto only takes SendTaskHeartbeat for states that set HeartbeatSeconds (DEVELOPERS.md).
        const string resultPath = "\"ResultPath\": \"$.job\",";
        if (!text.Contains(resultPath))
        {
            throw new PlaygroundException($"{example} no longer has {resultPath}: the playground adds HeartbeatSeconds after it.");
        }
        text = text.Replace("${SubmitJobFunctionArn}", functionArn).Replace("${JobQueue}", queue)
            .Replace(resultPath, resultPath + "\n      \"HeartbeatSeconds\": 600,");
        if (System.Text.RegularExpressions.Regex.Match(text, @"\$\{[A-Za-z]+\}") is { Success: true } left)
        {
            throw new PlaygroundException($"{example} has a placeholder the playground does not fill: {left.Value}");
        }
        var machine = await _world.SfnAsync("CreateStateMachine", new JsonObject { ["name"] = $"{stack}-service-job-example", ["definition"] = text, ["roleArn"] = role });
        timeline.Note($"state machine examples/{ServiceExample} (JSONPath; moto runs no JSONata) as {stack}-service-job-example,");
        timeline.Note("              plus \"HeartbeatSeconds\": 600 (moto takes heartbeats only then)");
        timeline.Note($"SubmitJobFunctionArn = {functionArn} (a stand-in in moto's Lambda: the playground plays Lambda)");

        // ---- the functions' environment: the template's (Globals), AllowedServiceRoles, Batch at the stand-in.
        var physical = new Dictionary<string, string>(queues) { ["JobTable"] = _world.TableName, ["AWS::AccountId"] = AwsWorld.Account };
        var environment = new Dictionary<string, string>(SamTemplate.FunctionEnvironment(stack, physical))
        {
            [SubmitPermissions.ServiceRolesVariable] = TrainingRole, // the AllowedServiceRoles parameter (SubmitJob's own variable)
        };
        foreach (var (name, value) in environment)
        {
            Environment.SetEnvironmentVariable(name, value);
        }
        Environment.SetEnvironmentVariable("AWS_REGION", _world.Region);
        Environment.SetEnvironmentVariable("AWS_ENDPOINT_URL", _world.Endpoint);
        Environment.SetEnvironmentVariable("AWS_ENDPOINT_URL_SFN", _wire.Endpoint);
        Environment.SetEnvironmentVariable("AWS_ENDPOINT_URL_BATCH", jobs.Endpoint);
        Environment.SetEnvironmentVariable("AWS_ENDPOINT_URL_DYNAMODB", null);
        timeline.Note($"functions' environment (template Globals, AllowedServiceRoles): {string.Join(", ", environment.Select(e => $"{e.Key}={e.Value}"))}");
        timeline.Note($"  plus AWS_REGION={_world.Region}, AWS_ENDPOINT_URL={_world.Endpoint}, AWS_ENDPOINT_URL_BATCH={jobs.Endpoint} (the stand-in),");
        timeline.Note($"  AWS_ENDPOINT_URL_SFN={_wire.Endpoint} (a pass-through that shows what BatchSync sends Step Functions)");
        LoadFunctions(artifacts);

        // ---- the run.
        timeline.Section("Timeline");
        timeline.StartClock();
        var input = new JsonObject { ["trainingJob"] = TrainingJob(TrainingRole).ToJsonString() };
        var execution = await _world.SfnAsync("StartExecution", new JsonObject
        {
            ["stateMachineArn"] = (string)machine["stateMachineArn"]!, ["name"] = "try-service-job", ["input"] = input.ToJsonString(),
        });
        var executionArn = (string)execution["executionArn"]!;
        timeline.Line("Step Functions", $"StartExecution {executionArn[(executionArn.LastIndexOf(':') + 1)..]}, input {{\"trainingJob\": <a CreateTrainingJob request as a JSON string, {((string)input["trainingJob"]!).Length} characters>}}");
        var payload = await _world.ScheduledPayloadAsync(executionArn);
        var token = (string?)payload["TaskToken"] ?? "";
        timeline.Line("Step Functions", $"RunTrainingJob invokes SubmitJob (lambda:invoke.waitForTaskToken): JobName {(string?)payload["JobName"]}, " +
                                        $"ServiceJobType {(string?)payload["ServiceJobType"]}, JobQueue {(string?)payload["JobQueue"]}, TaskToken ({token.Length} characters)");
        var submitted = await InvokeAsync("SubmitJobFunction", payload);
        if (submitted is null || submitted["Error"] is not null || submitted["JobId"] is null)
        {
            var failed = await _world.WaitForExecutionAsync(executionArn, e => (string?)e["status"] != "RUNNING");
            return Finish(new Outcome(false, $"SubmitJob did not submit the service job ({submitted?.ToJsonString() ?? "it failed"})", failed), afterBuild, buildTime, started);
        }
        var jobId = (string)submitted["JobId"]!;
        timeline.Line("SubmitJob", $"recorded the task (token kept in DynamoDB), submitted service job {jobId}, responded {Compact(submitted)}");
        var request = jobs.SubmittedRequest(jobId);
        var clientToken = (string?)request["clientToken"];
        timeline.Line("Batch", $"SubmitServiceJob received (stand-in): jobName {(string?)request["jobName"]}, clientToken {clientToken ?? "none"}, " +
                               $"tags {request["tags"]?.ToJsonString() ?? "none"}; job {jobs.StatusOf(jobId)}");

        // ---- SageMaker and Batch, played: each state, and its event through the rule.
        foreach (var status in new[] { "SCHEDULED", "STARTING", "RUNNING", "SUCCEEDED" })
        {
            if (status == "SUCCEEDED")
            {
                jobs.Succeed(jobId);
            }
            else
            {
                jobs.Advance(jobId, status);
            }
            var described = jobs.Describe(jobId);
            var trainingJob = (string?)described["latestAttempt"]?["serviceResourceId"]?["value"];
            timeline.Line("SageMaker", status switch
            {
                "SCHEDULED" => $"(played) training job {trainingJob?[(trainingJob.LastIndexOf('/') + 1)..]} created: the service job is SCHEDULED",
                "STARTING" => "(played) the training instances start: STARTING",
                "RUNNING" => "(played) training: RUNNING",
                _ => $"(played) training completed: SUCCEEDED, \"{(string?)described["statusReason"]}\"",
            });
            var delivered = await serviceRoute.DeliverAsync([jobs.EventFor(jobId)], expect: 1);
            if (delivered.Count == 0)
            {
                timeline.Line("EventBridge", $"\"{ServiceDetailType}\" ({status}) did not match rule {serviceRoute.Rule}: nothing invoked");
            }
            foreach (var evt in delivered)
            {
                timeline.Line("EventBridge", $"\"{ServiceDetailType}\" ({status}) matched rule {serviceRoute.Rule} -> JobStateChange");
                var answer = await InvokeAsync("JobStateChangeFunction", evt);
                if (answer is not null)
                {
                    timeline.Line("JobStateChange", Compact(answer));
                }
            }
        }

        var final = await _world.WaitForExecutionAsync(executionArn, e => (string?)e["status"] != "RUNNING");
        var history = await _world.HistoryAsync(executionArn);
        var types = history.Select(e => (string?)e!["type"]).ToList();
        timeline.Line("Step Functions", $"execution {(string?)final["status"]}" + (final["error"] is { } error ? $", error {error}" : "") +
                                        $" (history: {string.Join(", ", types.Where(t => t is "TaskSubmitted" or "TaskSucceeded" or "TaskFailed" or "ExecutionSucceeded" or "ExecutionFailed"))})");

        // A payload naming a role the stack does not allow: refused by name, before any SubmitServiceJob.
        var submitsBefore = jobs.Calls("SubmitServiceJob");
        var other = payload.DeepClone().AsObject();
        foreach (var member in new[] { "TaskToken", "ExecutionArn", "StateName" })
        {
            other.Remove(member); // request-response (no token), so the refusal is the invocation's error
        }
        other["JobName"] = "someone-elses-training";
        other["ServiceRequestPayload"] = TrainingJob($"arn:aws:iam::{AwsWorld.Account}:role/admin").ToJsonString();
        var refusal = await RefusalAsync("SubmitJobFunction", other);
        var refusedBeforeSubmit = jobs.Calls("SubmitServiceJob") == submitsBefore;
        timeline.Line("SubmitJob", $"a payload naming role/admin (not in AllowedServiceRoles): {Clip(refusal ?? "NOT refused", 160)}" +
                                   (refusedBeforeSubmit ? "; no SubmitServiceJob call" : "; yet SubmitServiceJob was called"));

        // ---- the report.
        var ok = Report(ServiceJobOutcome(final, jobs, jobId, out var expected));
        var jobIds = jobs.JobIds;
        var listed = (await ListServiceJobsAsync(jobs.Endpoint, queue, (string)payload["JobName"]!)).Count;
        var submits = jobs.Calls("SubmitServiceJob");
        var derived = TaskKey.ClientToken(token);
        timeline.Section("The service job");
        timeline.Block($"job:          {jobId} ({jobs.StatusOf(jobId)}), training job {(string?)jobs.Describe(jobId)["latestAttempt"]?["serviceResourceId"]?["value"]}");
        timeline.Block($"clientToken:  {clientToken ?? "none"} ({clientToken?.Length ?? 0} characters; the task token has {token.Length}):");
        timeline.Block($"              {(clientToken == token ? "the task token ITSELF" : clientToken == derived ? "not the task token: derived from it (SHA-256, base64url), so a retried submit cannot make a second job" : "not the task token, nor derived from it as BatchSync derives it")}");
        timeline.Block($"jobs:         {jobIds.Count} service job(s) in the stand-in, {listed} in ListServiceJobs for {queue} (JOB_NAME filter), " +
                       $"{submits} SubmitServiceJob call(s) (the refused payload made none)");
        timeline.Block($"calls:        DescribeServiceJob {jobs.Calls("DescribeServiceJob")}, TerminateServiceJob {jobs.Calls("TerminateServiceJob")}, " +
                       $"ListServiceJobs {jobs.Calls("ListServiceJobs")} (the playground's one included), forwarded to moto {jobs.Calls("forwarded")}");
        timeline.Block("");
        timeline.Block("moto has no Batch service jobs: the stand-in (tools/BatchSync.LocalWorld/ServiceJobs.cs, DEVELOPERS.md) answers");
        timeline.Block("their API strictly per the official model, and the playground plays SageMaker (the job's states) and sends the");
        timeline.Block("\"Batch Service Job State Change\" events Batch would (User Guide sample: no tags, no payload in the detail).");

        var problems = new List<string>();
        if (clientToken is null || clientToken == token || clientToken != derived)
        {
            problems.Add($"the job's clientToken is {(clientToken is null ? "missing" : clientToken == token ? "the task token itself" : "not derived from the task token")}");
        }
        if (jobIds.Count != 1 || submits != 1 || listed != 1)
        {
            problems.Add($"expected exactly one service job; the stand-in has {jobIds.Count}, saw {submits} SubmitServiceJob calls, lists {listed}");
        }
        if (!types.Contains("ExecutionSucceeded"))
        {
            problems.Add("moto's execution history has no ExecutionSucceeded");
        }
        if (refusal is null || !refusal.Contains("BatchSync.NotAllowed", StringComparison.Ordinal) || !refusedBeforeSubmit)
        {
            problems.Add("the payload naming a role not allowed was not refused with BatchSync.NotAllowed before submitting");
        }
        var outcome = new Outcome(ok && problems.Count == 0,
            ok && problems.Count == 0
                ? $"the execution SUCCEEDED with the service job's DescribeServiceJob detail as $.job; one service job, its clientToken derived from the task token; a role not allowed refused"
                : $"{(ok ? "the execution SUCCEEDED with the described job" : expected)}{(problems.Count > 0 ? $"; but {string.Join("; ", problems)}" : "")}",
            final);
        return Finish(outcome, afterBuild, buildTime, started);
    }

    /// <summary>
    /// The template's rule for service job events: an AWS::Events::Rule whose pattern names the detail-type (found by
    /// its pattern, whatever its name), resolved as deployed; until template.yaml has one, the pattern issue 21 gives it.
    /// </summary>
    private static (JsonObject Pattern, string Name, bool FromTemplate) ServiceJobRulePattern(string stack)
    {
        foreach (var (id, resource) in SamTemplate.Json["Resources"]!.AsObject())
        {
            if ((string?)resource?["Type"] == "AWS::Events::Rule"
                && resource?["Properties"]?["EventPattern"]?["detail-type"] is JsonArray types && types.Any(t => (string?)t == ServiceDetailType))
            {
                var pattern = SamTemplate.Property(SamTemplate.Json, id, "EventPattern", new Dictionary<string, string> { ["AWS::StackName"] = stack });
                return (pattern.AsObject(), id, true);
            }
        }
        return (new JsonObject
        {
            ["source"] = new JsonArray("aws.batch"),
            ["detail-type"] = new JsonArray(ServiceDetailType),
            ["detail"] = new JsonObject { ["status"] = new JsonArray("RUNNING", "SUCCEEDED", "FAILED") },
        }, "ServiceJobStateChange", false);
    }

    /// <summary>The execution SUCCEEDED and its $.job is the service job's DescribeServiceJob answer as BatchSync writes it.</summary>
    private Outcome ServiceJobOutcome(JsonObject execution, ServiceJobs jobs, string jobId, out string expected)
    {
        var status = (string?)execution["status"];
        var output = execution["output"] is { } text ? JsonNode.Parse((string)text!) : null;
        var job = output?["job"];
        // The answer leaves BatchSync's marker tag out, as it leaves a container job's marker parameter out.
        var described = jobs.Describe(jobId);
        (described["tags"] as JsonObject)?.Remove(TaskKey.MarkerParameter);
        var native = Native(described, jobs.Model["DescribeServiceJobResponse"])!;
        var same = job is not null && job.ToJsonString() == native.ToJsonString();
        var ok = status == "SUCCEEDED" && same;
        expected = ok ? "" : $"expected a SUCCEEDED execution whose $.job is service job {jobId}'s DescribeServiceJob answer in PascalCase, members sorted; got {status}" +
                             (job is null ? ", no $.job" : same ? "" : $", $.job {Clip(job.ToJsonString(), 300)} instead of {Clip(native.ToJsonString(), 300)}");
        return new Outcome(ok, ok ? "the execution SUCCEEDED with the service job's DescribeServiceJob detail as $.job" : expected, execution);
    }

    /// <summary>
    /// The native form, computed here from the stand-in's answer and the official model: structure members PascalCase
    /// and sorted (ordinal), at every depth; map keys and list order as they are; null members left out.
    /// </summary>
    private static JsonNode? Native(JsonNode? node, Shape? shape)
    {
        switch (node)
        {
            case null:
                return null;
            case JsonObject o when shape?.Kind == ShapeKind.Structure:
                var members = o.Where(p => p.Value is not null)
                    .Select(p => (Member: shape.MembersByWire.GetValueOrDefault(p.Key), p.Key, p.Value))
                    .Select(m => (Name: m.Member?.PascalName ?? BatchShapes.ToPascal(m.Key), m.Member, m.Value))
                    .OrderBy(m => m.Name, StringComparer.Ordinal);
                return new JsonObject(members.Select(m => KeyValuePair.Create(m.Name, Native(m.Value, m.Member?.Shape))));
            case JsonObject o:
                return new JsonObject(o.Select(p => KeyValuePair.Create(p.Key, Native(p.Value, shape?.ValueShape))));
            case JsonArray a:
                return new JsonArray(a.Select(i => Native(i, shape?.MemberShape)).ToArray());
            default:
                return node.DeepClone();
        }
    }

    /// <summary>The queue's jobs by name, through the stand-in's own ListServiceJobs (as a client would count them).</summary>
    private async Task<JsonArray> ListServiceJobsAsync(string endpoint, string queue, string jobName)
    {
        var world = new AwsWorld(endpoint, _world.Region, _world.StackName);
        var answer = await world.BatchAsync("ListServiceJobs", new JsonObject
        {
            ["jobQueue"] = queue,
            ["filters"] = new JsonArray(new JsonObject { ["name"] = "JOB_NAME", ["values"] = new JsonArray(jobName) }),
        });
        return answer["jobSummaryList"]?.AsArray() ?? [];
    }
}
