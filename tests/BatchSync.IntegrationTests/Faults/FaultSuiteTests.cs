using System.Text;
using System.Text.Json.Nodes;
using BatchSync.IntegrationTests.Moto;
using BatchSync.Logging;
using BatchSync.Redrive;
using BatchSync.Tasks;
using Xunit.Abstractions;

namespace BatchSync.IntegrationTests.Faults;

/// <summary>
/// 200 tasks of one execution (a Map over the README task) through the whole loop, with a seeded 20 % of the
/// functions' calls to Batch, Step Functions and DynamoDB failing (throttled, 5xx, dropped before or after the service
/// acted, answered after the client's timeout), and event deliveries duplicated and shuffled. The test plays Lambda
/// (3 attempts for async invocations, then the on-failure queue; the README's Retry for SubmitJob) and EventBridge.
/// </summary>
[Collection(MotoCollection.Name)]
public class FaultSuiteTests(MotoFixture moto, ITestOutputHelper output)
{
    private const int Seed = 20261125;
    private const int Tasks = 200;
    private const double FaultRate = 0.2;
    private static readonly Dictionary<string, string?> FastTimeouts = new() { ["BATCHSYNC_ATTEMPT_TIMEOUT_MS"] = "400" };

    private static string MapDefinition(string functionArn, string definition) => $$"""
    {
      "StartAt": "All",
      "States": {
        "All": {
          "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 0,
          "Iterator": {
            "StartAt": "RunBatchJob",
            "States": {
              "RunBatchJob": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {
                  "FunctionName": "{{functionArn}}",
                  "Payload": {
                    "JobName.$": "$.name", "JobQueue.$": "$.queue", "JobDefinition": "{{definition}}",
                    "Parameters": { "InputFile.$": "$.input" },
                    "ContainerOverrides": { "Environment": [ { "Name": "ITEM", "Value.$": "$.name" } ] },
                    "TaskToken.$": "$$.Task.Token", "ExecutionArn.$": "$$.Execution.Id", "StateName.$": "$$.State.Name"
                  }
                },
                "Catch": [ { "ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed" } ],
                "End": true
              },
              "Failed": { "Type": "Pass", "End": true }
            }
          },
          "ResultSelector": { "Count.$": "States.ArrayLength($)" },
          "End": true
        }
      }
    }
    """;

    [Fact]
    public async Task Every_task_ends_exactly_once_under_injected_faults()
    {
        var world = new AwsWorld(moto.Server, "us-east-2", "faults");
        var (queue, definition, role) = await world.CreateBatchAsync();
        await world.CreateTableFromTemplateAsync();
        var functionArn = await world.CreateStandInFunctionAsync("SubmitJob", role);
        var dlqUrl = (await world.Sqs.CreateQueueAsync("faults-failed-invocations")).QueueUrl;
        var items = new JsonArray(Enumerable.Range(0, Tasks).Select(i => (JsonNode?)new JsonObject
        {
            ["name"] = $"fault-{i:D3}",
            ["queue"] = i % 20 == 7 ? "missing-queue" : queue,   // 10 tasks whose submit Batch refuses
            ["input"] = $"s3://in/{i}.csv",
        }).ToArray());
        var machine = await world.SfnAsync("CreateStateMachine", new JsonObject { ["name"] = "faults", ["definition"] = MapDefinition(functionArn, definition), ["roleArn"] = role });
        var execution = (string)(await world.SfnAsync("StartExecution", new JsonObject { ["stateMachineArn"] = (string)machine["stateMachineArn"]!, ["input"] = new JsonObject { ["items"] = items }.ToJsonString() }))["executionArn"]!;
        var payloads = await ScheduledPayloadsAsync(world, execution);
        var tokens = payloads.Select(p => (string)p["TaskToken"]!).ToList();

        using var proxy = new FaultProxy(moto.Server.Endpoint, Seed)
        {
            SlowAnswerDelay = TimeSpan.FromMilliseconds(600),
            Rates = { ["batch"] = FaultRate, ["states"] = FaultRate, ["dynamodb"] = FaultRate },
        };
        world.ExportEnvironment(proxy.Endpoint, FastTimeouts);
        var logs = new StringWriter();
        var previousSink = Log.Sink;
        Log.Sink = logs;
        var report = new Dictionary<string, object>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            // Step Functions invokes SubmitJob; the README's Retry re-invokes it on TransientFailureException.
            var submit = Handler("SubmitJobFunction", proxy);
            var rng = new Random(Seed);
            var shuffled = payloads.OrderBy(_ => rng.Next()).ToList();
            int submitInvocations = 0, submitGaveUp = 0;
            foreach (var payload in shuffled)
            {
                Exception? last = null;
                for (var attempt = 0; attempt < 4; attempt++)
                {
                    submitInvocations++;
                    try
                    {
                        await AwsWorld.InvokeAsync(submit, payload);
                        last = null;
                        break;
                    }
                    catch (TransientFailureException e)
                    {
                        last = e;
                    }
                }
                if (last is not null)
                {
                    // Retries exhausted: Step Functions fails the task with the function's error.
                    submitGaveUp++;
                    await world.SfnAsync("SendTaskFailure", new JsonObject { ["taskToken"] = (string)payload["TaskToken"]!, ["error"] = "TransientFailureException", ["cause"] = last.Message });
                }
            }

            report["submitPhaseMs"] = clock.ElapsedMilliseconds;
            // Batch's events (built from DescribeJobs), duplicated and shuffled; Lambda's async retries, then the DLQ.
            var (jobs, _) = await world.Batch.ListJobsAsync(new JsonObject
            {
                ["jobQueue"] = queue, ["filters"] = new JsonArray(new JsonObject { ["name"] = "JOB_NAME", ["values"] = new JsonArray("fault-*") }),
            });
            var events = new List<JsonObject>();
            foreach (var job in jobs)
            {
                var evt = await world.JobStateChangeEventAsync(job.JobId);
                events.Add(evt);
                if (rng.NextDouble() < 0.3)
                {
                    events.Add((JsonObject)evt.DeepClone());
                }
            }
            events = events.OrderBy(_ => rng.Next()).ToList();
            var jobStateChange = Handler("JobStateChangeFunction", proxy);
            int eventInvocations = 0, deadLettered = 0;
            foreach (var evt in events)
            {
                Exception? last = null;
                for (var attempt = 0; attempt < 3; attempt++)
                {
                    eventInvocations++;
                    try
                    {
                        await AwsWorld.InvokeAsync(jobStateChange, evt);
                        last = null;
                        break;
                    }
                    catch (BatchSyncException e)
                    {
                        last = e;
                    }
                }
                if (last is not null)
                {
                    deadLettered++;
                    await world.Sqs.SendMessageAsync(dlqUrl, OnFailureRecord(evt, last).ToJsonString());
                }
            }

            report["eventPhaseMs"] = clock.ElapsedMilliseconds;
            // The documented redrive, then the sweep, both still under faults.
            var redriver = new Redriver(world.Sqs, async payload =>
            {
                using var _ = await jobStateChange(new MemoryStream(payload));
            }) { RefusedVisibilitySeconds = 0 };
            int redriven = 0;
            for (var round = 0; round < 5; round++)
            {
                var result = await redriver.RunAsync(dlqUrl, maxMessages: 1000);
                redriven += result.Redriven;
                if (result.Failed == 0)
                {
                    break;
                }
            }
            // Sweep until a sweep finds nothing more to deliver (a failed sweep simply runs again at the next schedule).
            var sweep = Handler("ReconcileFunction", proxy);
            var sweeps = 0;
            for (var quiet = false; !quiet && sweeps < 6; sweeps++)
            {
                try
                {
                    var swept = await AwsWorld.InvokeAsync(sweep, AwsWorld.ScheduledEvent());
                    quiet = (int)swept["Delivered"]! == 0 && (int)swept["Failed"]! == 0 && (int)swept["Terminated"]! == 0;
                }
                catch (BatchSyncException)
                {
                }
            }
            proxy.Enabled = false;
            report["sweepPhaseMs"] = clock.ElapsedMilliseconds;

            report["tasks"] = Tasks;
            report["jobsSubmitted"] = jobs.Count;
            report["callsThroughProxy"] = proxy.Calls.Count;
            report["faultsInjected"] = proxy.Calls.Count(c => c.Fault is not null);
            report["faultsByKind"] = proxy.FaultCounts.ToDictionary(k => k.Key.ToString(), k => k.Value);
            report["retriesInsideInvocations"] = proxy.Calls.Count - CountFirstAttempts(proxy);
            report["submitInvocations"] = submitInvocations;
            report["submitRetriesExhausted"] = submitGaveUp;
            report["eventDeliveries"] = events.Count;
            report["eventInvocations"] = eventInvocations;
            report["deadLettered"] = deadLettered;
            report["redriven"] = redriven;
            report["sweeps"] = sweeps;

            // Every task ended exactly once, with the right output or error.
            var done = await world.WaitForExecutionAsync(execution, e => (string?)e["status"] != "RUNNING", TimeSpan.FromSeconds(30));
            var history = await HistoryAsync(world, execution);
            var endings = Endings(history);
            var unended = payloads.Select(p => (string)p["JobName"]!).Where(n => !endings.ContainsKey(n)).ToList();
            Assert.True(unended.Count == 0, $"execution {done["status"]}; tasks that never ended: {string.Join(", ", unended)}");
            Assert.Equal("SUCCEEDED", (string)done["status"]!);
            Assert.All(endings, e => Assert.Single(e.Value));
            var refused = items.Where(i => (string)i!["queue"]! == "missing-queue").Select(i => (string)i!["name"]!).ToHashSet();
            // A fault Batch answered fails the task as the native integration does (Batch.<code>); an invocation that kept
            // failing fails it as Step Functions does once the Retry is spent (TransientFailureException).
            string[] faultErrors = ["Batch.ServiceUnavailableException", "Batch.TooManyRequestsException", "TransientFailureException"];
            var outputs = new List<JsonNode>();
            foreach (var (name, ends) in endings)
            {
                var (type, error, result) = ends.Single();
                if (refused.Contains(name))
                {
                    Assert.Equal("TaskFailed", type);
                    Assert.Contains(error, faultErrors.Append("Batch.ClientException"));
                }
                else if (type == "TaskSucceeded")
                {
                    Assert.Equal(("SUCCEEDED", name), ((string)result!["Status"]!, (string)result["JobName"]!));
                    Assert.Equal($"s3://in/{int.Parse(name[6..])}.csv", (string)result["Parameters"]!["InputFile"]!);
                    Assert.Null(result["Parameters"]![Mapping.SubmitRequestMapper.MarkerParameter]);
                    outputs.Add(result);
                }
                else
                {
                    Assert.Contains(error, faultErrors);
                }
            }
            var succeeded = outputs;
            var failedCount = endings.Count(e => e.Value.Single().Type == "TaskFailed");
            Assert.True(refused.Count(n => endings[n].Single().Error == "Batch.ClientException") >= refused.Count / 2);
            report["tasksSucceeded"] = succeeded.Count;
            report["tasksFailed"] = failedCount;

            // No job submitted twice; nothing left undelivered.
            var perName = jobs.GroupBy(j => j.JobName).ToList();
            Assert.All(perName, g => Assert.Single(g));
            Assert.True(succeeded.Count <= jobs.Count);
            // Open records may remain only for tasks whose SubmitJob never got through: the sweep closes those once
            // SubmitGrace has passed (The_sweep_finds_the_job_of_a_crashed_submit_or_fails_the_task).
            var open = (await world.Store.ListOpenAsync(null, 100)).Records;
            Assert.All(open, r => Assert.Null(r.JobId));
            Assert.True(open.Count <= submitGaveUp, $"{open.Count} open records, {submitGaveUp} submits given up");
            var leftInDlq = (await world.Sqs.ReceiveMessageAsync(new Amazon.SQS.Model.ReceiveMessageRequest { QueueUrl = dlqUrl, WaitTimeSeconds = 1 })).Messages?.Count ?? 0;
            Assert.Equal(0, leftInDlq);
            report["lost"] = 0;
            report["duplicateJobs"] = 0;

            // The task token never left DynamoDB: not in a log line, a Batch request, a job, an answer.
            var batchRequests = string.Join("\n", proxy.Calls.Where(c => c.Service == "batch").Select(c => c.Body));
            var describedJobs = string.Join("\n", (await world.Batch.DescribeJobsAsync(jobs.Select(j => j.JobId).Take(100).ToList())).Select(j => j.GetRawText()))
                + string.Join("\n", (await world.Batch.DescribeJobsAsync(jobs.Select(j => j.JobId).Skip(100).ToList() is { Count: > 0 } rest ? rest : [jobs[0].JobId])).Select(j => j.GetRawText()));
            var logText = logs.ToString();
            foreach (var token in tokens)
            {
                Assert.DoesNotContain(token, logText);
                Assert.DoesNotContain(token, batchRequests);
                Assert.DoesNotContain(token, describedJobs);
                Assert.DoesNotContain(token, string.Join("\n", outputs.Select(o => o.ToJsonString())));
            }

            // Every call a function made is one its IAM policy in template.yaml grants.
            foreach (var group in proxy.Calls.GroupBy(c => c.Caller))
            {
                var granted = TemplateTests.GrantedActions(group.Key);
                foreach (var call in group.Select(c => IamAction(c.Service, c.Operation)).Distinct())
                {
                    Assert.True(granted.Contains(call), $"{group.Key} called {call}, which template.yaml does not grant it");
                }
            }
        }
        finally
        {
            Log.Sink = previousSink;
            world.ExportEnvironment();
            var json = new JsonObject(report.Select(kv => KeyValuePair.Create(kv.Key, kv.Value switch
            {
                Dictionary<string, int> d => (JsonNode?)new JsonObject(d.Select(x => KeyValuePair.Create(x.Key, (JsonNode?)x.Value))),
                int i => i,
                long l => l,
                _ => kv.Value.ToString(),
            })));
            output.WriteLine($"fault suite (seed {Seed}): {json.ToJsonString()}");
            var artifacts = Path.Combine(SamTemplate.RepoRoot, "artifacts");
            Directory.CreateDirectory(artifacts);
            File.WriteAllText(Path.Combine(artifacts, "fault-suite-report.json"), json.ToJsonString(new() { WriteIndented = true }));
        }
    }

    private static Func<Stream, Task<Stream>> Handler(string function, FaultProxy proxy)
    {
        var handler = SamTemplate.LoadHandler(function);
        return input =>
        {
            proxy.Caller = function;
            return handler(input);
        };
    }

    /// <summary>Calls that are not a retry of the call just before them (same caller, service, operation, body).</summary>
    private static int CountFirstAttempts(FaultProxy proxy)
    {
        ProxiedCall? previous = null;
        var first = 0;
        foreach (var call in proxy.Calls)
        {
            if (previous is null || previous.Fault is null || (previous.Caller, previous.Service, previous.Operation, previous.Body) != (call.Caller, call.Service, call.Operation, call.Body))
            {
                first++;
            }
            previous = call;
        }
        return first;
    }

    public static string IamAction(string service, string operation) => service switch
    {
        "batch" => "batch:" + operation.ToLowerInvariant() switch
        {
            "submitjob" => "SubmitJob", "describejobs" => "DescribeJobs", "terminatejob" => "TerminateJob", "listjobs" => "ListJobs",
            var other => other,
        },
        _ => $"{service}:{operation}",
    };

    private static JsonObject OnFailureRecord(JsonObject evt, Exception error) => new()
    {
        ["version"] = "1.0",
        ["timestamp"] = DateTime.UtcNow.ToString("O"),
        ["requestContext"] = new JsonObject
        {
            ["requestId"] = Guid.NewGuid().ToString(), ["functionArn"] = "arn:aws:lambda:us-east-2:123456789012:function:JobStateChange:$LATEST",
            ["condition"] = "RetriesExhausted", ["approximateInvokeCount"] = 3,
        },
        ["requestPayload"] = evt.DeepClone(),
        ["responseContext"] = new JsonObject { ["statusCode"] = 200, ["executedVersion"] = "$LATEST", ["functionError"] = "Unhandled" },
        ["responsePayload"] = new JsonObject { ["errorType"] = error.GetType().Name, ["errorMessage"] = error.Message },
    };

    /// <summary>How each task (by job name) ended in the execution history: its end events, walked back to the scheduling.</summary>
    private static Dictionary<string, List<(string Type, string? Error, JsonNode? Output)>> Endings(List<JsonObject> history)
    {
        var byId = history.ToDictionary(e => (long)e["id"]!);
        var scheduled = history.Where(e => (string?)e["type"] == "TaskScheduled").ToDictionary(e => (long)e["id"]!,
            e => (string)JsonNode.Parse((string)e["taskScheduledEventDetails"]!["parameters"]!)!["Payload"]!["JobName"]!);
        var endings = new Dictionary<string, List<(string, string?, JsonNode?)>>();
        foreach (var end in history.Where(e => (string?)e["type"] is "TaskSucceeded" or "TaskFailed"))
        {
            for (var at = (long)end["previousEventId"]!; at != 0 && byId.TryGetValue(at, out var previous); at = (long)previous["previousEventId"]!)
            {
                if (scheduled.TryGetValue(at, out var name))
                {
                    var type = (string)end["type"]!;
                    var ending = type == "TaskSucceeded"
                        ? (type, (string?)null, JsonNode.Parse((string)end["taskSucceededEventDetails"]!["output"]!))
                        : (type, (string?)end["taskFailedEventDetails"]!["error"], (JsonNode?)null);
                    (endings.TryGetValue(name, out var list) ? list : endings[name] = []).Add(ending);
                    break;
                }
            }
        }
        return endings;
    }

    private static async Task<List<JsonObject>> ScheduledPayloadsAsync(AwsWorld world, string execution)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var payloads = (await HistoryAsync(world, execution))
                .Where(e => (string?)e["type"] == "TaskScheduled")
                .Select(e => JsonNode.Parse((string)e["taskScheduledEventDetails"]!["parameters"]!)!["Payload"]!.AsObject())
                .ToList();
            if (payloads.Count >= Tasks || DateTime.UtcNow > deadline)
            {
                Assert.Equal(Tasks, payloads.Count);
                return payloads;
            }
            await Task.Delay(300);
        }
    }

    private static async Task<List<JsonObject>> HistoryAsync(AwsWorld world, string execution)
    {
        var events = new List<JsonObject>();
        string? next = null;
        do
        {
            var request = new JsonObject { ["executionArn"] = execution, ["maxResults"] = 1000 };
            if (next is not null)
            {
                request["nextToken"] = next;
            }
            var page = await world.SfnAsync("GetExecutionHistory", request);
            events.AddRange(page["events"]!.AsArray().Select(e => e!.AsObject()));
            next = (string?)page["nextToken"];
        }
        while (next is not null);
        return events;
    }
}
