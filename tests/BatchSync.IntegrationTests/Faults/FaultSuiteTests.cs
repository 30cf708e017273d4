using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.IntegrationTests.Moto;
using BatchSync.Logging;
using BatchSync.Redrive;
using BatchSync.Domain;
using Xunit.Abstractions;

namespace BatchSync.IntegrationTests.Faults;

/// <summary>
/// 200 tasks of one execution (a Map over the README task, with its Retry) through the whole loop, against moto
/// through a proxy that behaves as AWS does where moto is kinder: each state-level Retry attempt gets a new task token
/// and a dead token is answered TaskTimedOut; a seeded 20 % of the functions' calls to Batch, Step Functions and
/// DynamoDB fail (throttled, 5xx before or after the service acted, dropped before or after, answered after the
/// client's timeout); Batch's lists lag a fresh submit; a quarter of SubmitJob invocations arrive twice at once, and some
/// again later; event deliveries are duplicated and shuffled. The test plays Lambda (3 attempts for async invocations,
/// then the on-failure queue) and Step Functions' side of the task (a failed invocation fails the attempt; the Retry
/// starts a new one). Every number in the report is counted from what happened: moto's history and Batch's job list,
/// the table, and the calls the proxy saw.
/// </summary>
[Collection(MotoCollection.Name)]
public class FaultSuiteTests(MotoFixture moto, ITestOutputHelper output)
{
    private const int Seed = 20261125;
    private const int Tasks = 200;
    private const double FaultRate = 0.2;
    private const int MaxAttempts = 4; // the first attempt and the Retry's 3

    /// <summary>The functions' settings here: short calls and budgets, and grace periods that fit a test run.</summary>
    private static readonly Dictionary<string, string> Settings = new()
    {
        ["BATCHSYNC_ATTEMPT_TIMEOUT_MS"] = "400",
        ["BATCHSYNC_INVOCATION_BUDGET_SECONDS"] = "6",
        ["BATCHSYNC_SUBMIT_LEASE_SECONDS"] = "3",
        ["BATCHSYNC_SUBMIT_GRACE_SECONDS"] = "4",
        ["BATCHSYNC_JOB_MISSING_GRACE_SECONDS"] = "2",
        ["BATCHSYNC_ANSWER_CLAIM_SECONDS"] = "8",
    };

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
                "HeartbeatSeconds": 3600, "TimeoutSeconds": 7200,
                "Parameters": {
                  "FunctionName": "{{functionArn}}",
                  "Payload": {
                    "JobName.$": "$.name", "JobQueue.$": "$.queue", "JobDefinition": "{{definition}}",
                    "Parameters": { "InputFile.$": "$.input" },
                    "ContainerOverrides": { "Environment": [ { "Name": "ITEM", "Value.$": "$.name" } ] },
                    "TaskToken.$": "$$.Task.Token", "ExecutionArn.$": "$$.Execution.Id", "StateName.$": "$$.State.Name"
                  }
                },
                "Retry": [ { "ErrorEquals": ["Lambda.ServiceException", "Lambda.TooManyRequestsException", "Lambda.SdkClientException", "TransientFailureException"],
                             "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 1 } ],
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
        var payloads = (await ScheduledPayloadsAsync(world, execution, _ => 1)).ToDictionary(p => (string)p["JobName"]!);

        using var proxy = new FaultProxy(moto.Server.Endpoint, Seed)
        {
            SlowAnswerDelay = TimeSpan.FromMilliseconds(600),
            ListingLag = TimeSpan.FromSeconds(2),
            Rates = { ["batch"] = FaultRate, ["states"] = FaultRate, ["dynamodb"] = FaultRate },
            Delays = { ["batch:submitjob"] = TimeSpan.FromMilliseconds(250) },
        };
        world.ExportEnvironment(proxy.Endpoint);
        foreach (var (name, value) in Settings)
        {
            Environment.SetEnvironmentVariable(name, value);
        }
        var logs = new StringWriter();
        var previousSink = Log.Sink;
        Log.Sink = new SynchronizedWriter(logs);
        var report = new Dictionary<string, object>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var internalErrors = 0;
        try
        {
            // Step Functions invokes SubmitJob, at least once: a quarter of the invocations twice at once. A failed
            // invocation fails the attempt; the Retry starts the next one with a new token.
            var submit = Handler("SubmitJobFunction", proxy);
            var rng = new Random(Seed);
            var duplicated = payloads.Keys.Where(_ => rng.NextDouble() < 0.25).ToHashSet();
            var attempts = payloads.Keys.ToDictionary(n => n, _ => 1);
            var lastToken = new Dictionary<string, string>();
            int submitInvocations = 0, attemptsFailed = 0, attemptsExhausted = 0;
            var pending = payloads.Keys.OrderBy(_ => rng.Next()).ToList();
            while (pending.Count > 0)
            {
                var failed = new System.Collections.Concurrent.ConcurrentBag<(string Name, string Error)>();
                await Parallel.ForEachAsync(pending, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (name, _) =>
                {
                    var realToken = (string)payloads[name]["TaskToken"]!;
                    var token = proxy.Tokens.Issue(realToken, attempts[name]);
                    lock (lastToken) { lastToken[name] = token; }
                    var payload = (JsonObject)payloads[name].DeepClone();
                    payload["TaskToken"] = token;
                    var copies = duplicated.Contains(name) ? 2 : 1;
                    Interlocked.Add(ref submitInvocations, copies);
                    var outcomes = await Task.WhenAll(Enumerable.Range(0, copies).Select(_ => InvokeCatchingAsync(submit, payload)));
                    if (outcomes.Any(o => o is InternalErrorException))
                    {
                        Interlocked.Increment(ref internalErrors);
                    }
                    // Step Functions sees the first invocation's result (the other was a duplicate delivery), unless
                    // the task took an answer already: then the attempt is over whatever the invocation returned.
                    if (outcomes[0] is { } error && !proxy.Tokens.IsDead(token))
                    {
                        failed.Add((name, error.GetType().Name));
                        output.WriteLine($"{name} attempt {attempts[name]}: {error.GetType().Name}: {error.Message}");
                    }
                });
                pending = [];
                foreach (var (name, error) in failed)
                {
                    attemptsFailed++;
                    // Lambda's error fails the attempt: its token dies, and the Retry (if any left) starts a new attempt
                    // with a new token. The harness plays that Retry (moto's would reuse the token, and its callback
                    // bookkeeping then sometimes loses the next attempt's answer): moto's task waits on, on its one
                    // token, which the proxy maps each live attempt's token to; only the last attempt's failure is moto's.
                    proxy.Tokens.Kill(lastToken[name]);
                    if (attempts[name] < MaxAttempts)
                    {
                        attempts[name]++;
                        pending.Add(name);
                    }
                    else
                    {
                        attemptsExhausted++;
                        await world.SfnAsync("SendTaskFailure", new JsonObject { ["taskToken"] = (string)payloads[name]["TaskToken"]!, ["error"] = error, ["cause"] = "the invocation failed" });
                    }
                }
            }
            report["submitPhaseMs"] = clock.ElapsedMilliseconds;

            // Batch's events (built from DescribeJobs): a RUNNING and the final state of each job, duplicated and
            // shuffled; Lambda's async retries, then the on-failure queue.
            var jobs = await AllJobsAsync(world, queue);
            var events = new List<JsonObject>();
            foreach (var job in jobs)
            {
                var detail = JsonNode.Parse(job.GetRawText())!.AsObject();
                var running = (JsonObject)detail.DeepClone();
                running["status"] = "RUNNING";
                foreach (var evt in new[] { world.BuildEvent(running), world.BuildEvent(detail) })
                {
                    events.Add(evt);
                    if (rng.NextDouble() < 0.3)
                    {
                        events.Add((JsonObject)evt.DeepClone());
                    }
                }
            }
            events = events.OrderBy(_ => rng.Next()).ToList();
            var jobStateChange = Handler("JobStateChangeFunction", proxy);
            int eventInvocations = 0, deadLettered = 0;
            await Parallel.ForEachAsync(events, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (evt, _) =>
            {
                Exception? last = null;
                for (var attempt = 0; attempt < 3; attempt++)
                {
                    Interlocked.Increment(ref eventInvocations);
                    last = await InvokeCatchingAsync(jobStateChange, evt);
                    if (last is null)
                    {
                        break;
                    }
                    if (last is InternalErrorException)
                    {
                        Interlocked.Increment(ref internalErrors);
                    }
                }
                if (last is not null)
                {
                    Interlocked.Increment(ref deadLettered);
                    await world.Sqs.SendMessageAsync(dlqUrl, OnFailureRecord(evt, last).ToJsonString());
                }
            });
            report["eventPhaseMs"] = clock.ElapsedMilliseconds;

            // Lambda delivers at least once: some SubmitJob invocations come again, late, with their attempt's token.
            var late = payloads.Keys.Where(_ => rng.NextDouble() < 0.1).ToList();
            foreach (var name in late)
            {
                var payload = (JsonObject)payloads[name].DeepClone();
                payload["TaskToken"] = lastToken[name];
                submitInvocations++;
                if (await InvokeCatchingAsync(submit, payload) is InternalErrorException)
                {
                    internalErrors++;
                }
            }

            // The documented redrive, then the sweep every few seconds (its grace periods are seconds here), both still
            // under faults, until no record is open.
            var redriver = new Redriver(world.Sqs, async payload =>
            {
                using var _ = await jobStateChange(new MemoryStream(payload));
            }) { RefusedVisibilitySeconds = 0 };
            int redriven = 0;
            for (var round = 0; round < 5; round++)
            {
                var result = await redriver.RunAsync(dlqUrl, maxMessages: 100);
                redriven += result.Redriven;
                if (result.Failed == 0)
                {
                    break;
                }
            }
            var sweep = Handler("ReconcileFunction", proxy);
            var sweeps = 0;
            while (sweeps < 12 && (await OpenRecordsAsync(world)).Count > 0)
            {
                sweeps++;
                if (await InvokeCatchingAsync(sweep, AwsWorld.ScheduledEvent()) is InternalErrorException)
                {
                    internalErrors++;
                }
                await Task.Delay(TimeSpan.FromSeconds(2.5));
            }
            proxy.Enabled = false;
            report["sweepPhaseMs"] = clock.ElapsedMilliseconds;

            // Counted from what happened.
            var done = await world.WaitForExecutionAsync(execution, e => (string?)e["status"] != "RUNNING", TimeSpan.FromSeconds(60));
            var history = await HistoryAsync(world, execution);
            var endings = Endings(history);
            jobs = await AllJobsAsync(world, queue);
            var records = await AllRecordsAsync(world);
            var ourReasons = new HashSet<string> { TaskDecisions.AbortedReason(execution), TaskDecisions.TaskClosedReason };
            bool Terminated(JsonElement job) => job.TryGetProperty("statusReason", out var r) && ourReasons.Contains(r.GetString()!);
            string Id(JsonElement job) => job.GetProperty("jobId").GetString()!;
            var named = records.Where(r => r.JobId is not null).Select(r => r.JobId!).ToHashSet();
            var openNamed = records.Where(r => r.JobId is not null && !r.IsFinished).Select(r => r.JobId!).ToHashSet();
            var unwatched = jobs.Where(j => !named.Contains(Id(j)) && !Terminated(j)).Select(Id).ToList();
            var runningUnnamed = jobs.Where(j => j.GetProperty("status").GetString() is not ("SUCCEEDED" or "FAILED") && !openNamed.Contains(Id(j))).Select(Id).ToList();
            var liveJobsPerTask = jobs.Where(j => !Terminated(j)).GroupBy(j => JobStateEvent.MarkerOf(j)).ToDictionary(g => g.Key ?? "", g => g.Count());
            var secondAnswers = SecondAnswers(proxy);
            var lost = payloads.Keys.Where(n => !endings.TryGetValue(n, out var e) || e.Final is null).ToList();

            report["tasks"] = Tasks;
            report["attemptsFailed"] = attemptsFailed;
            report["attemptsExhausted"] = attemptsExhausted;
            report["tokensIssued"] = proxy.Tokens.Issued.Count();
            report["submitInvocations"] = submitInvocations;
            report["concurrentDuplicateSubmits"] = duplicated.Count;
            report["lateDuplicateSubmits"] = late.Count;
            report["jobsSubmitted"] = jobs.Count;
            report["jobsTerminated"] = jobs.Count(Terminated);
            report["jobsUnwatched"] = unwatched.Count;
            report["jobsRunningThatNoOpenRecordNames"] = runningUnnamed.Count;
            report["tasksWithMoreThanOneLiveJob"] = liveJobsPerTask.Count(kv => kv.Value > 1);
            report["secondAnswers"] = secondAnswers;
            report["deadTokenCallsAnsweredTaskTimedOut"] = proxy.Calls.Count(c => c.AnsweredDeadToken);
            report["jobsHiddenByListingLag"] = proxy.HiddenByLag;
            report["openRecordsLeft"] = records.Count(r => !r.IsFinished);
            report["lost"] = lost.Count;
            report["internalErrors"] = internalErrors;
            report["callsThroughProxy"] = proxy.Calls.Count;
            report["proxyAcceptFailures"] = proxy.AcceptFailures;
            report["faultsInjected"] = proxy.Calls.Count(c => c.Fault is not null);
            report["faultsByKind"] = proxy.FaultCounts.ToDictionary(k => k.Key.ToString(), k => k.Value);
            report["eventDeliveries"] = events.Count;
            report["eventInvocations"] = eventInvocations;
            report["deadLettered"] = deadLettered;
            report["redriven"] = redriven;
            report["sweeps"] = sweeps;
            report["tasksSucceeded"] = endings.Values.Count(e => e.Final?.Type == "TaskSucceeded");
            report["tasksFailed"] = endings.Values.Count(e => e.Final?.Type == "TaskFailed");

            foreach (var record in records.Where(r => !r.IsFinished))
            {
                output.WriteLine($"open record {record.JobName}: {record.Status} {record.Submit} job={record.JobId} lease={record.LeaseUntil} claim={record.AnswerClaimUntil} missing={record.JobMissingSince} reason={record.Reason}");
            }
            foreach (var calls in proxy.Calls.Where(c => c.Token is not null && c.Operation.StartsWith("SendTask", StringComparison.Ordinal)).GroupBy(c => c.Token))
            {
                if (SecondAnswers(calls) > 0)
                {
                    output.WriteLine($"second answer: {string.Join(" | ", calls.Select(c => $"{c.Caller} {c.Operation} {c.Fault} {c.UpstreamStatus} dead={c.AnsweredDeadToken}"))}");
                }
            }
            foreach (var name in lost)
            {
                foreach (var record in records.Where(r => r.JobName == name))
                {
                    output.WriteLine($"lost {name}: record {record.Status} {record.Submit} job={record.JobId} reason={record.Reason}");
                }
                foreach (var token in proxy.Tokens.Issued.Where(t => t.StartsWith((string)payloads[name]["TaskToken"]!, StringComparison.Ordinal)))
                {
                    output.WriteLine($"lost {name}: token {token[^10..]} dead={proxy.Tokens.IsDead(token)}: " + string.Join(" | ",
                        proxy.Calls.Where(c => c.Token == token).Select(c => $"{c.Caller} {c.Operation} {c.Fault} {c.UpstreamStatus} dead={c.AnsweredDeadToken}")));
                }
            }
            Assert.True(lost.Count == 0, $"execution {done["status"]}; tasks that never ended: {string.Join(", ", lost)}");
            Assert.Equal("SUCCEEDED", (string)done["status"]!);
            Assert.True(unwatched.Count == 0, $"jobs nobody waits for and nobody terminated: {string.Join(", ", unwatched)}");
            Assert.True(runningUnnamed.Count == 0, $"jobs still running that no open record names: {string.Join(", ", runningUnnamed)}");
            Assert.Equal(0, secondAnswers);
            Assert.Equal(0, internalErrors);
            Assert.All(liveJobsPerTask, kv => Assert.True(kv.Value == 1, $"task {kv.Key} has {kv.Value} jobs not terminated"));
            Assert.Equal(0, records.Count(r => !r.IsFinished));
            Assert.All(endings, e => Assert.True(e.Value.Succeeded <= 1, $"{e.Key} succeeded {e.Value.Succeeded} times"));

            var refused = items.Where(i => (string)i!["queue"]! == "missing-queue").Select(i => (string)i!["name"]!).ToHashSet();
            string[] faultErrors = ["TransientFailureException", "BatchSync.SubmitOutcomeUnknown", "BatchSync.SubmitNotSent", "BatchSync.JobNotFound"];
            var outputs = new List<JsonNode>();
            foreach (var (name, ending) in endings)
            {
                var (type, error, result) = ending.Final!.Value;
                if (refused.Contains(name))
                {
                    Assert.Equal("TaskFailed", type);
                    Assert.Contains(error, faultErrors.Append("Batch.ClientException"));
                }
                else if (type == "TaskSucceeded")
                {
                    Assert.Equal(("SUCCEEDED", name), ((string)result!["Status"]!, (string)result["JobName"]!));
                    Assert.Equal($"s3://in/{int.Parse(name[6..])}.csv", (string)result["Parameters"]!["InputFile"]!);
                    Assert.Null(result["Parameters"]![Domain.TaskKey.MarkerParameter]);
                    outputs.Add(result);
                }
                else
                {
                    Assert.Contains(error, faultErrors);
                }
            }
            output.WriteLine("refused tasks ended with: " + string.Join(", ", refused.Select(n => $"{n} {endings[n].Final!.Value.Error}")));
            // Batch's refusal reaches the task as Batch's own error, unless the refusal itself was lost on the way (a
            // timeout, a drop): then the submit's outcome is unknown, and no job appearing, the task fails as such.
            Assert.Contains(refused, n => endings[n].Final!.Value.Error == "Batch.ClientException");
            var leftInDlq = (await world.Sqs.ReceiveMessageAsync(new Amazon.SQS.Model.ReceiveMessageRequest { QueueUrl = dlqUrl, WaitTimeSeconds = 1 })).Messages?.Count ?? 0;
            Assert.Equal(0, leftInDlq);

            // The task token never left DynamoDB: not in a log line, a Batch request, a job, an answer.
            var batchRequests = string.Join("\n", proxy.Calls.Where(c => c.Service == "batch").Select(c => c.Body));
            var describedJobs = string.Join("\n", jobs.Select(j => j.GetRawText()));
            var logText = logs.ToString();
            var outputText = string.Join("\n", outputs.Select(o => o.ToJsonString()));
            foreach (var token in proxy.Tokens.Issued)
            {
                Assert.DoesNotContain(token, logText);
                Assert.DoesNotContain(token, batchRequests);
                Assert.DoesNotContain(token, describedJobs);
                Assert.DoesNotContain(token, outputText);
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
            foreach (var name in Settings.Keys)
            {
                Environment.SetEnvironmentVariable(name, null);
            }
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

    private static async Task<Exception?> InvokeCatchingAsync(Func<Stream, Task<Stream>> handler, JsonNode payload)
    {
        try
        {
            await AwsWorld.InvokeAsync(handler, payload);
            return null;
        }
        catch (BatchSyncException e)
        {
            return e;
        }
    }

    /// <summary>
    /// Terminal SendTask* calls a function made with a token after Step Functions had accepted one for it: each would
    /// be a second answer (AWS refuses it, so only counting what was sent can show it).
    /// </summary>
    private static int SecondAnswers(FaultProxy proxy) =>
        proxy.Calls.Where(c => c.Token is not null).GroupBy(c => c.Token).Sum(SecondAnswers);

    private static int SecondAnswers(IEnumerable<ProxiedCall> callsOfOneToken)
    {
        var count = 0;
        var accepted = false;
        foreach (var call in callsOfOneToken.Where(c => c.Operation is "SendTaskSuccess" or "SendTaskFailure"))
        {
            count += accepted ? 1 : 0;
            accepted |= call.UpstreamStatus is >= 200 and < 300;
        }
        return count;
    }

    /// <summary>Every job of the suite, as DescribeJobs gives it (Batch's own list).</summary>
    private static async Task<List<JsonElement>> AllJobsAsync(AwsWorld world, string queue)
    {
        var (summaries, _) = await world.Batch.ListJobsAsync(new JsonObject
        {
            ["jobQueue"] = queue, ["filters"] = new JsonArray(new JsonObject { ["name"] = "JOB_NAME", ["values"] = new JsonArray("fault-*") }),
        });
        var jobs = new List<JsonElement>();
        foreach (var chunk in summaries.Select(s => s.JobId).Chunk(100))
        {
            jobs.AddRange(await world.Batch.DescribeJobDetailsAsync(chunk));
        }
        return jobs;
    }

    private static async Task<List<TaskRecord>> AllRecordsAsync(AwsWorld world)
    {
        var records = new List<TaskRecord>();
        Dictionary<string, Amazon.DynamoDBv2.Model.AttributeValue>? start = null;
        do
        {
            var page = await world.Dynamo.ScanAsync(new Amazon.DynamoDBv2.Model.ScanRequest { TableName = world.TableName, ExclusiveStartKey = start, ConsistentRead = true });
            foreach (var item in page.Items)
            {
                records.Add((await world.Store.GetAsync(item["TaskKey"].S))!);
            }
            start = page.LastEvaluatedKey is { Count: > 0 } last ? last : null;
        }
        while (start is not null);
        return records;
    }

    private static async Task<List<TaskRecord>> OpenRecordsAsync(AwsWorld world) => (await AllRecordsAsync(world)).Where(r => !r.IsFinished).ToList();

    private sealed class SynchronizedWriter(StringWriter inner) : TextWriter
    {
        public override System.Text.Encoding Encoding => inner.Encoding;
        public override void Write(char value) { lock (inner) { inner.Write(value); } }
        public override void Write(string? value) { lock (inner) { inner.Write(value); } }
        public override void WriteLine(string? value) { lock (inner) { inner.WriteLine(value); } }
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

    private sealed record Ending(int Succeeded, (string Type, string? Error, JsonNode? Output)? Final);

    /// <summary>
    /// How each task (by job name) ended in the execution history: its end events walked back to their scheduling. A
    /// failed attempt that the Retry followed is not an ending; the last end event is.
    /// </summary>
    private static Dictionary<string, Ending> Endings(List<JsonObject> history)
    {
        var byId = history.ToDictionary(e => (long)e["id"]!);
        var scheduled = history.Where(e => (string?)e["type"] == "TaskScheduled").ToDictionary(e => (long)e["id"]!,
            e => (string)JsonNode.Parse((string)e["taskScheduledEventDetails"]!["parameters"]!)!["Payload"]!["JobName"]!);
        var lastScheduled = scheduled.GroupBy(kv => kv.Value).ToDictionary(g => g.Key, g => g.Max(kv => kv.Key));
        var ends = new Dictionary<string, List<(long Id, string, string?, JsonNode?)>>();
        foreach (var end in history.Where(e => (string?)e["type"] is "TaskSucceeded" or "TaskFailed"))
        {
            for (var at = (long)end["previousEventId"]!; at != 0 && byId.TryGetValue(at, out var previous); at = (long)previous["previousEventId"]!)
            {
                if (scheduled.TryGetValue(at, out var name))
                {
                    var type = (string)end["type"]!;
                    var ending = type == "TaskSucceeded"
                        ? ((long)end["id"]!, type, (string?)null, JsonNode.Parse((string)end["taskSucceededEventDetails"]!["output"]!))
                        : ((long)end["id"]!, type, (string?)end["taskFailedEventDetails"]!["error"], (JsonNode?)null);
                    (ends.TryGetValue(name, out var list) ? list : ends[name] = []).Add(ending);
                    break;
                }
            }
        }
        return ends.ToDictionary(kv => kv.Key, kv =>
        {
            // Attempts that failed and were retried end in TaskFailed too: the task's own ending is its last end event,
            // and only if no later attempt was scheduled (that attempt still waits).
            var last = kv.Value.MaxBy(e => e.Id);
            var final = last.Id > lastScheduled[kv.Key] ? (last.Item2, last.Item3, last.Item4) : ((string, string?, JsonNode?)?)null;
            return new Ending(kv.Value.Count(e => e.Item2 == "TaskSucceeded"), final);
        });
    }

    /// <summary>The first scheduled payload of each task, once every task has been scheduled as often as <paramref name="times"/> says.</summary>
    private static async Task<List<JsonObject>> ScheduledPayloadsAsync(AwsWorld world, string execution, Func<string, int> times)
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (true)
        {
            var scheduled = (await HistoryAsync(world, execution))
                .Where(e => (string?)e["type"] == "TaskScheduled")
                .Select(e => JsonNode.Parse((string)e["taskScheduledEventDetails"]!["parameters"]!)!["Payload"]!.AsObject())
                .GroupBy(p => (string)p["JobName"]!)
                .ToList();
            if ((scheduled.Count >= Tasks && scheduled.All(g => g.Count() >= times(g.Key))) || DateTime.UtcNow > deadline)
            {
                if (scheduled.FirstOrDefault(g => g.Count() < times(g.Key)) is { } missing)
                {
                    var history = await HistoryAsync(world, execution);
                    var first = history.First(e => (string?)e["type"] == "TaskScheduled" && ((string)e["taskScheduledEventDetails"]!["parameters"]!).Contains(missing.Key));
                    var chain = new List<long> { (long)first["id"]! };
                    var dump = new List<string>();
                    foreach (var e in history.Where(e => (long)e["id"]! > chain[0]))
                    {
                        if (chain.Contains((long)e["previousEventId"]!))
                        {
                            chain.Add((long)e["id"]!);
                            dump.Add(e.ToJsonString());
                        }
                    }
                    Assert.Fail($"{missing.Key} was not rescheduled; its events after scheduling: {string.Join("\n", dump)}");
                }
                Assert.Equal(Tasks, scheduled.Count);
                Assert.All(scheduled, g => Assert.True(g.Count() >= times(g.Key), $"{g.Key} was scheduled {g.Count()} times, expected {times(g.Key)}"));
                return scheduled.Select(g => g.First()).ToList();
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
