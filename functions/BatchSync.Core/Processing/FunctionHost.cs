using BatchSync.Aws;
using BatchSync.Logging;
using BatchSync.Store;
using BatchSync.Domain;

namespace BatchSync.Processing;

/// <summary>What every function shares: configuration from the environment, the AWS clients, and the stream plumbing.</summary>
public sealed class FunctionHost
{
    public FunctionHost(AwsSettings settings, TimeProvider clock)
    {
        Namespace = settings.Value("BATCHSYNC_NAMESPACE")
            ?? throw new InvalidOperationException("BATCHSYNC_NAMESPACE is not set (the template sets it to the stack name).");
        // One set of clients per process (the runtime creates the function class once and reuses it). The processors
        // hold stand-ins that make each client on its first call, so constructing a function creates none and a path
        // pays only for the clients it calls, when it calls them.
        _batch = new LazyBatchApi(() => BatchClient.Create(settings));
        _stepFunctions = new LazyStepFunctionsApi(() => StepFunctionsClient.Create(settings));
        _store = new LazyRecordStore(() => DynamoRecordStore.Create(settings, clock));
        Clock = clock;
        Timing = Timing.FromSettings(settings.Value);
        Answers = AnswersFor(settings);
        Budget = int.TryParse(settings.Value("BATCHSYNC_INVOCATION_BUDGET_SECONDS"), out var seconds) && seconds > 0
            ? TimeSpan.FromSeconds(seconds)
            : null;
        SweepCallsPerSecond = SweepRate(settings.Value("BATCHSYNC_SWEEP_CALLS_PER_SECOND"));
    }

    /// <summary>Step Functions calls a second the whole sweep may make (BATCHSYNC_SWEEP_CALLS_PER_SECOND; all parts together).</summary>
    public double SweepCallsPerSecond { get; }

    /// <summary>The sweep's Step Functions rate: unset means the default; anything but a positive number fails the cold start by name.</summary>
    public static double SweepRate(string? value) =>
        value is null or ""
            ? PacedStepFunctionsApi.DefaultSweepCallsPerSecond
            : double.TryParse(value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var rate) && rate > 0 && double.IsFinite(rate)
                ? rate
                : throw new InvalidOperationException($"BATCHSYNC_SWEEP_CALLS_PER_SECOND must be a positive number of calls a second, not '{value}'.");

    /// <summary>How long one invocation may spend on calls before failing cleanly (null: no limit but the calls' own).</summary>
    public TimeSpan? Budget { get; }

    public static FunctionHost FromEnvironment() => new(AwsSettings.FromEnvironment(), TimeProvider.System);

    public string Namespace { get; }
    public TimeProvider Clock { get; }
    public Timing Timing { get; }
    private readonly LazyBatchApi _batch;
    private readonly LazyStepFunctionsApi _stepFunctions;
    private readonly LazyRecordStore _store;

    /// <summary>Batch; the client is made on the first call.</summary>
    public IBatchApi Batch => _batch;
    /// <summary>Step Functions; the client is made on the first call.</summary>
    public IStepFunctionsApi StepFunctions => _stepFunctions;
    /// <summary>The task records; the DynamoDB client is made on the first call.</summary>
    public IRecordStore Store => _store;
    /// <summary>How failed jobs are answered (the stack's failure error name; a CloudWatch Logs client made on its first call).</summary>
    public Failures.AnswerSettings Answers { get; }

    /// <summary>The clients made so far, by name (Batch, StepFunctions, DynamoDB, CloudWatchLogs): what a path has paid for.</summary>
    public IReadOnlyList<string> CreatedClients =>
    [
        .. _batch.IsCreated ? ["Batch"] : Array.Empty<string>(),
        .. _stepFunctions.IsCreated ? ["StepFunctions"] : Array.Empty<string>(),
        .. _store.IsCreated ? ["DynamoDB"] : Array.Empty<string>(),
        .. Answers.Logs is LazyLogsApi { IsCreated: true } ? ["CloudWatchLogs"] : Array.Empty<string>(),
    ];

    /// <summary>
    /// How failed jobs are answered: <see cref="Failures.AnswerSettings.From"/> plus a CloudWatch Logs client for tails,
    /// made on its first call (only tasks that opted into log tails ever call it).
    /// </summary>
    public static Failures.AnswerSettings AnswersFor(AwsSettings settings)
    {
        var answers = Failures.AnswerSettings.From(settings.Value);
        // One attempt, bounded by the tail's own timeout: a slow log never holds up the answer.
        return answers with
        {
            Logs = new LazyLogsApi(() => CloudWatchLogsClient.Create(settings, new RetryPolicy { MaxAttempts = 1, AttemptTimeout = answers.LogTailTimeout })),
        };
    }

    /// <summary>Reads the invocation payload, runs the core, writes its answer; logs a failure once and lets it surface.</summary>
    public async Task<Stream> RunAsync<T>(string function, Stream input, Func<ReadOnlyMemory<byte>, CancellationToken, Task<T>> core) where T : IFunctionResponse
    {
        var payload = await ReadAllAsync(input).ConfigureAwait(false);
        using var budget = Budget is { } b ? InvocationBudget.Start(b, Clock) : null;
        using var deadline = Budget is { } limit ? new CancellationTokenSource(limit, Clock) : new CancellationTokenSource();
        try
        {
            var answer = await core(payload, deadline.Token).ConfigureAwait(false);
            return new MemoryStream(ResponseJson.ToUtf8(answer), writable: false);
        }
        catch (BatchSyncException e)
        {
            Log.Error(e, "{Function} failed: {ErrorName}", function, e.ErrorName);
            throw;
        }
        catch (Exception e) when (DependencyFailures.IsDependencyFailure(e))
        {
            // One name for every failure of a dependency, so a state machine can Retry it: TransientFailureException.
            Log.Error(e, "{Function} failed: {ErrorType}", function, e.GetType().Name);
            throw new TransientFailureException(e);
        }
        catch (Exception e)
        {
            // A bug of ours: not a name anyone retries; the stack trace goes to the log.
            Log.Error(e, "{Function} failed with a bug: {ErrorType} {StackTrace}", function, e.GetType().Name, e.StackTrace);
            throw new InternalErrorException(e);
        }
    }

    private static async Task<ReadOnlyMemory<byte>> ReadAllAsync(Stream input)
    {
        if (input is MemoryStream memory && memory.TryGetBuffer(out var segment))
        {
            return segment.AsMemory((int)memory.Position);
        }
        using var copy = new MemoryStream();
        await input.CopyToAsync(copy).ConfigureAwait(false);
        return copy.ToArray();
    }
}
