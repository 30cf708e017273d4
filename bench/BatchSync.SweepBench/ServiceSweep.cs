using System.Diagnostics;
using System.Text.Json.Nodes;
using BatchSync.Domain;
using BatchSync.LocalWorld;
using BatchSync.Processing;

/// <summary>
/// <c>--service</c> (and a small one in <c>--smoke</c>): N due records whose jobs are service jobs (SageMaker Training
/// through Batch, described one per DescribeServiceJob call), then the same N as container jobs (DescribeJobs, 100 ids a
/// call), each in a table of its own on the same moto, each swept by the bench's deployed configuration (the parts at
/// once, the 50 s invocation budget, the 40 s sweep budget, <see cref="Reconciler.ServiceDescribesPerSecond"/> left at
/// its default). Everything reported is counted: the sweep's responses, the fake Batch's call log (one timestamp per
/// call), the fake Step Functions' answers and heartbeats.
/// </summary>
static class ServiceSweep
{
    public sealed record Options(MotoServer? Moto, TimeSpan? MemoryStoreLatency, int Records, int Parts, int Sweeps, TimeSpan SfnLatency, TimeSpan DescribeLatency,
        int Concurrency, int SweepCallsPerSecond, int MixedServiceRecords = 0);

    /// <summary>The jobs whose events were lost: every 50th (2 %, as the container bench), at least one.</summary>
    public static bool IsLost(int i) => i % 50 == 0;

    public static async Task<JsonObject> RunAsync(Options o)
    {
        var service = await RunKindAsync(o, JobKind.Service);
        var container = await RunKindAsync(o, JobKind.Container);
        // --mixed M: the N container records again, with M service records in the same table (the same parts, passes).
        var mixed = o.MixedServiceRecords > 0 ? await RunKindAsync(o, JobKind.Container, o.MixedServiceRecords) : null;
        return new JsonObject
        {
            ["mixed"] = mixed,
            ["records"] = o.Records,
            ["parts"] = o.Parts,
            ["serviceDescribesPerSecondSetting"] = Reconciler.DefaultServiceDescribesPerSecond,
            ["service"] = service,
            ["container"] = container,
        };
    }

    private static async Task<JsonObject> RunKindAsync(Options o, JobKind kind, int alsoService = 0)
    {
        var label = alsoService > 0 ? "mixed" : kind == JobKind.Service ? "service" : "container";
        IRecordStore seedStore, store;
        if (o.Moto is not null)
        {
            var world = new AwsWorld(o.Moto, "us-east-1", $"sweepbench-{label}-{o.Records}-{Guid.NewGuid().ToString("N")[..6]}");
            await world.CreateTableFromTemplateAsync();
            seedStore = world.PatientStore(TimeSpan.FromSeconds(60));
            store = new SingleUpdateReschedule(seedStore, world.Dynamo, world.TableName);
        }
        else
        {
            seedStore = store = new MemoryStore(o.MemoryStoreLatency ?? TimeSpan.FromMilliseconds(5));
        }
        var start = DateTimeOffset.UtcNow;
        var lost = new HashSet<string>();
        var seeding = Stopwatch.StartNew();
        var prefix = kind == JobKind.Service ? "svc" : "ctr";
        await Parallel.ForEachAsync(Enumerable.Range(0, o.Records), new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, _) =>
        {
            var token = $"bench-{prefix}-token-{i}";
            var jobId = $"{prefix}-job-{i}";
            await seedStore.TryCreateAsync(new TaskRecord
            {
                TaskKey = TaskKey.For(token), TaskToken = token, Status = RecordStatus.Submitted, JobId = jobId, JobName = "bench", JobQueue = "q",
                JobArn = kind == JobKind.Service ? $"arn:aws:batch:us-east-1:123456789012:service-job/{jobId}" : $"arn:aws:batch:us-east-1:123456789012:job/{jobId}",
                JobKind = kind,
                CreatedAt = (start - TimeSpan.FromMinutes(5 + (i * 7919 % 1440))).ToUnixTimeMilliseconds(),
                UpdatedAt = start.ToUnixTimeMilliseconds(), NextCheckAt = start.ToUnixTimeMilliseconds(),
            });
        });
        for (var i = 0; i < o.Records; i++)
        {
            if (IsLost(i))
            {
                lost.Add($"{prefix}-job-{i}");
            }
        }
        // The mixed run's service records (tokens bench-mix-token-i), none of them lost.
        await Parallel.ForEachAsync(Enumerable.Range(0, alsoService), new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, _) =>
        {
            var token = $"bench-mix-token-{i}";
            await seedStore.TryCreateAsync(new TaskRecord
            {
                TaskKey = TaskKey.For(token), TaskToken = token, Status = RecordStatus.Submitted, JobId = $"mix-job-{i}", JobName = "bench", JobQueue = "q",
                JobArn = $"arn:aws:batch:us-east-1:123456789012:service-job/mix-job-{i}", JobKind = JobKind.Service,
                CreatedAt = (start - TimeSpan.FromMinutes(5 + (i * 7919 % 1440))).ToUnixTimeMilliseconds(),
                UpdatedAt = start.ToUnixTimeMilliseconds(), NextCheckAt = start.ToUnixTimeMilliseconds(),
            });
        });
        // The store writes the kind: read a record back and say so.
        var back = await seedStore.GetAsync(TaskKey.For($"bench-{prefix}-token-0"));
        Console.WriteLine($"[{label}] seeded {o.Records} due records ({kind} jobs; record 0 read back as {back?.JobKind}) in {seeding.Elapsed.TotalSeconds:0.0} s; {lost.Count} ended with their events lost");

        var batch = new SlowBatch(o.DescribeLatency, lost);
        var tasks = new SlowTasks(o.SfnLatency);
        var clock = new SimulatedClock(start);
        // As the deployed function: the 50 s invocation budget (the sweep's own 40 s default), the Step Functions pacing,
        // ServiceDescribesPerSecond not set (its default).
        var reconciler = new Reconciler(batch, tasks, store, "sweepbench", clock) { Concurrency = o.Concurrency, SweepCallsPerSecond = o.SweepCallsPerSecond, InvocationBudget = TimeSpan.FromSeconds(50) };
        var rows = new JsonArray();
        var checkedOnce = new HashSet<string>();
        var deliveredInSweep = new Dictionary<string, int>();
        var total = Stopwatch.StartNew();
        for (var sweep = 1; sweep <= o.Sweeps; sweep++)
        {
            clock.Now = start + TimeSpan.FromMinutes(5 * (sweep - 1));
            tasks.Heartbeats.Clear();
            var answeredBefore = tasks.Answered.Count;
            var serviceCallsBefore = batch.ServiceDescribeCallTimes.Count;
            var describeCallsBefore = batch.DescribeCalls;
            var began = Stopwatch.GetTimestamp();
            var watch = Stopwatch.StartNew();
            var answers = await Task.WhenAll(Enumerable.Range(1, o.Parts).Select(async part =>
            {
                using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(50));
                try
                {
                    return await reconciler.SweepAsync(new SweepRequest(part, o.Parts), deadline.Token);
                }
                catch (OperationCanceledException)
                {
                    return new ReconcileResponse("Failed");
                }
            }));
            watch.Stop();
            foreach (var token in tasks.Heartbeats.Keys.Concat(tasks.Answered.Keys))
            {
                checkedOnce.Add(token);
            }
            foreach (var token in tasks.Answered.Keys)
            {
                deliveredInSweep.TryAdd(token, sweep);
            }
            var calls = batch.ServiceDescribeCallTimes.Skip(serviceCallsBefore).OrderBy(t => t).ToList();
            var examined = answers.Sum(a => a.Examined);
            var serviceCalls = calls.Count;
            var describeJobsCalls = batch.DescribeCalls - describeCallsBefore;
            var batchCalls = serviceCalls + describeJobsCalls;
            var span = calls.Count > 1 ? Stopwatch.GetElapsedTime(calls[0], calls[^1]).TotalSeconds : 0;
            var row = new JsonObject
            {
                ["sweep"] = sweep,
                ["checked"] = examined,
                ["checkedPerPart"] = new JsonArray(answers.Select(a => (JsonNode?)a.Examined).ToArray()),
                ["leftDue"] = answers.Sum(a => a.LeftDue ?? 0),
                ["recorded"] = answers.Sum(a => a.Recorded ?? 0),
                ["errors"] = answers.Sum(a => a.Errors),
                ["heartbeats"] = tasks.Heartbeats.Count,
                ["delivered"] = tasks.Answered.Count - answeredBefore,
                ["describeServiceJobCalls"] = serviceCalls,
                ["describeJobsCalls"] = describeJobsCalls,
                ["batchCallsPerCheckedRecord"] = examined > 0 ? Math.Round((double)batchCalls / examined, 4) : null,
                ["maxDescribeServiceJobIn1s"] = MaxInWindow(calls, TimeSpan.FromSeconds(1)),
                ["describeServiceJobPerSecondFirstToLast"] = span > 0 ? Math.Round((calls.Count - 1) / span, 2) : null,
                ["describeServiceJobPerSecondOverSweep"] = Math.Round(serviceCalls / watch.Elapsed.TotalSeconds, 2),
                ["firstToLastDescribeSeconds"] = Math.Round(span, 1),
                ["lastDescribeAtSeconds"] = calls.Count > 0 ? Math.Round(Stopwatch.GetElapsedTime(began, calls[^1]).TotalSeconds, 1) : null,
                ["seconds"] = Math.Round(watch.Elapsed.TotalSeconds, 1),
                ["checkedSoFar"] = checkedOnce.Count,
            };
            if (alsoService > 0)
            {
                // Counted from the fake Step Functions: whose tasks got a call this sweep.
                var touched = tasks.Heartbeats.Keys.Concat(tasks.Answered.Keys.Where(t => !deliveredInSweep.TryGetValue(t, out var s) || s == sweep)).ToList();
                row["containerTasksCalled"] = touched.Count(t => t.StartsWith($"bench-{prefix}-", StringComparison.Ordinal));
                row["serviceTasksCalled"] = touched.Count(t => t.StartsWith("bench-mix-", StringComparison.Ordinal));
            }
            rows.Add(row);
            Console.WriteLine($"[{label}] {row.ToJsonString()}");
        }
        var lostTokens = lost.Select(id => $"bench-{prefix}-token-{id[(prefix.Length + 5)..]}").ToList();
        return new JsonObject
        {
            ["kind"] = label,
            ["records"] = o.Records,
            ["serviceRecordsAlso"] = alsoService,
            ["lostOutcomes"] = lostTokens.Count,
            ["lostOutcomesDelivered"] = lostTokens.Count(t => tasks.Answered.ContainsKey(t)),
            ["lostOutcomesDeliveredInSweep1"] = lostTokens.Count(t => deliveredInSweep.TryGetValue(t, out var s) && s == 1),
            ["checkedAtLeastOnce"] = checkedOnce.Count,
            ["secondAnswers"] = tasks.SecondAnswers,
            ["describeServiceJobCalls"] = batch.ServiceDescribeCallTimes.Count,
            ["describeJobsCalls"] = batch.DescribeCalls,
            ["seconds"] = Math.Round(total.Elapsed.TotalSeconds, 1),
            ["sweeps"] = rows,
        };
    }

    /// <summary>The most calls in any window of this length (timestamps sorted).</summary>
    public static int MaxInWindow(IReadOnlyList<long> sorted, TimeSpan window)
    {
        var best = 0;
        var from = 0;
        for (var to = 0; to < sorted.Count; to++)
        {
            while (Stopwatch.GetElapsedTime(sorted[from], sorted[to]) >= window)
            {
                from++;
            }
            best = Math.Max(best, to - from + 1);
        }
        return best;
    }
}
