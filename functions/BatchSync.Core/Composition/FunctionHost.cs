using BatchSync.Aws;
using BatchSync.Domain;
using BatchSync.Failures;
using BatchSync.Logging;
using BatchSync.Processing;
using BatchSync.Store;

namespace BatchSync.Composition;

/// <summary>
/// The composition root: what every function shares. The settings, read and checked once; the AWS clients, behind
/// stand-ins that make each on its first call; the processors, built here and only here (the handlers ask for theirs);
/// and the stream plumbing around each invocation.
/// </summary>
public sealed class FunctionHost
{
    public FunctionHost(AwsSettings settings, TimeProvider clock) : this(BatchSyncSettings.From(settings), clock)
    {
    }

    /// <param name="settings">Every setting, read and checked.</param>
    /// <param name="clock">The functions' clock.</param>
    /// <param name="roleAssumer">How spoke roles are assumed (default: STS through the hub region's endpoint, as the function's role).</param>
    public FunctionHost(BatchSyncSettings settings, TimeProvider clock, IRoleAssumer? roleAssumer = null)
    {
        Settings = settings;
        Clock = clock;
        var aws = settings.Aws;
        // One set of clients per process (the runtime creates the function class once and reuses it). The processors
        // hold stand-ins that make each client on its first call, so constructing a function creates none and a path
        // pays only for the clients it calls, when it calls them.
        _batch = new LazyBatchApi(() => BatchClient.Create(aws, settings.Retry));
        _stepFunctions = new LazyStepFunctionsApi(() => StepFunctionsClient.Create(aws, settings.Retry));
        // Every task's calls are routed by its record's account and region; the hub's own go to the client above, and
        // STS (AWSSDK.SecurityToken) is only loaded when a tenant's task needs its role.
        var tenancy = settings.Tenancy;
        SpokeCredentials = new SpokeCredentials(roleAssumer ?? new LazyRoleAssumer(() => new StsRoleAssumer(aws, SpokeCredentials.SessionNameFor(aws.Value("AWS_LAMBDA_FUNCTION_NAME")))), clock, settings.Namespace,
            e => OnSpokeUnreachable(e, tenancy));
        _router = new SpokeRouter(_stepFunctions, settings.Tenancy, SpokeCredentials,
            (region, credentials) => new LazyStepFunctionsApi(() => StepFunctionsClient.Create(aws, region, credentials ?? SharedHttp.Credentials, settings.Retry)));
        _store = new LazyRecordStore(() => DynamoRecordStore.Create(aws, settings.Table, settings.RecordRetention, settings.Retry, clock));
        // One attempt, bounded by the tail's own timeout: a slow log never holds up the answer.
        var answers = settings.Answers;
        Answers = answers with
        {
            Logs = new LazyLogsApi(() => CloudWatchLogsClient.Create(aws, new RetryPolicy { MaxAttempts = 1, AttemptTimeout = answers.LogTailTimeout })),
        };
    }

    public static FunctionHost FromEnvironment() => new(BatchSyncSettings.FromEnvironment(), TimeProvider.System);

    /// <summary>Every setting, read once.</summary>
    public BatchSyncSettings Settings { get; }
    public string Namespace => Settings.Namespace;
    public TimeProvider Clock { get; }
    public Timing Timing => Settings.Timing;
    /// <summary>How long one invocation may spend on calls before failing cleanly (null: no limit but the calls' own).</summary>
    public TimeSpan? Budget => Settings.Budget;
    private readonly LazyBatchApi _batch;
    private readonly LazyStepFunctionsApi _stepFunctions;
    private readonly SpokeRouter _router;

    /// <summary>The spoke roles' credentials this process holds (and the AssumeRole calls it made).</summary>
    public SpokeCredentials SpokeCredentials { get; }
    public Tenancy Tenancy => Settings.Tenancy;
    private readonly LazyRecordStore _store;

    /// <summary>Batch; the client is made on the first call.</summary>
    public IBatchApi Batch => _batch;
    /// <summary>
    /// Step Functions, the one seam every task's calls go through (<see cref="IStepFunctionsRouter.For"/>): by the task's
    /// account and region, each client made on its first call.
    /// </summary>
    public IStepFunctionsRouter StepFunctions => _router;
    /// <summary>The task records; the DynamoDB client is made on the first call.</summary>
    public IRecordStore Store => _store;
    /// <summary>How failed jobs are answered (the stack's failure error name; a CloudWatch Logs client made on its first call).</summary>
    public AnswerSettings Answers { get; }

    /// <summary>SubmitJob's core.</summary>
    public JobSubmitter Submitter() => new(Batch, StepFunctions, Store, Namespace, Clock, Timing) { Permissions = Settings.Permissions, Tenancy = Tenancy };
    /// <summary>JobStateChange's core.</summary>
    public JobEventProcessor JobEvents() => new(Batch, StepFunctions, Store, Namespace, Clock, Timing, Answers);
    /// <summary>Callback's core.</summary>
    public CallbackProcessor Callbacks() => new(Batch, StepFunctions, Store, Namespace, Clock, Timing) { Tenancy = Tenancy };
    /// <summary>Reconcile's core.</summary>
    public Reconciler Reconciler() => new(Batch, StepFunctions, Store, Namespace, Clock, Timing, Answers)
    {
        InvocationBudget = Budget,
        SweepCallsPerSecond = Settings.SweepCallsPerSecond,
    };

    private static void OnSpokeUnreachable(SpokeUnreachableException e, Tenancy tenancy)
    {
        Log.Warn("Spoke {Account} is unreachable: {Error}; its tasks' calls wait until its role can be assumed", e.Account, e.Message);
        // The metric's Account is a listed tenant's, or "organization": any account of an organization may be named in
        // a payload, and each would be a metric of its own (the log names it).
        Metrics.SpokeUnreachable(tenancy.TenantAccounts.Contains(e.Account) ? e.Account : "organization");
    }

    /// <summary>The clients made so far, by name (Batch, StepFunctions, DynamoDB, CloudWatchLogs): what a path has paid for.</summary>
    public IReadOnlyList<string> CreatedClients =>
    [
        .. _batch.IsCreated ? ["Batch"] : Array.Empty<string>(),
        .. _stepFunctions.IsCreated ? ["StepFunctions"] : Array.Empty<string>(),
        .. _store.IsCreated ? ["DynamoDB"] : Array.Empty<string>(),
        .. Answers.Logs is LazyLogsApi { IsCreated: true } ? ["CloudWatchLogs"] : Array.Empty<string>(),
    ];

    /// <summary>How failed jobs are answered, as a function would (tests and tools): the settings' plus a CloudWatch Logs client.</summary>
    public static AnswerSettings AnswersFor(AwsSettings settings)
    {
        var answers = AnswerSettings.From(settings.Value);
        return answers with
        {
            Logs = new LazyLogsApi(() => CloudWatchLogsClient.Create(settings, new RetryPolicy { MaxAttempts = 1, AttemptTimeout = answers.LogTailTimeout })),
        };
    }

    /// <summary>Reads the invocation payload, runs the core, writes its response; logs a failure once and lets it surface.</summary>
    public async Task<Stream> RunAsync<T>(string function, Stream input, Func<ReadOnlyMemory<byte>, CancellationToken, Task<T>> core) where T : IFunctionResponse
    {
        var payload = await ReadAllAsync(input).ConfigureAwait(false);
        using var budget = Budget is { } b ? InvocationBudget.Start(b, Clock) : null;
        using var deadline = Budget is { } limit ? new CancellationTokenSource(limit, Clock) : new CancellationTokenSource();
        try
        {
            var response = await core(payload, deadline.Token).ConfigureAwait(false);
            return new MemoryStream(ResponseJson.ToUtf8(response), writable: false);
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
