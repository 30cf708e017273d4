using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using BatchSync.Aws;
using BatchSync.Logging;
using BatchSync.Store;
using BatchSync.Tasks;

namespace BatchSync.Processing;

/// <summary>What every function shares: configuration from the environment, the AWS clients, and the stream plumbing.</summary>
public sealed class FunctionHost
{
    public FunctionHost(AwsSettings settings, TimeProvider clock)
    {
        Namespace = settings.Value("BATCHSYNC_NAMESPACE")
            ?? throw new InvalidOperationException("BATCHSYNC_NAMESPACE is not set (the template sets it to the stack name).");
        // One set of clients per process (the runtime creates the function class once and reuses it), each made on
        // first use, so a path pays only for the clients it calls.
        _batch = new Lazy<IBatchApi>(() => BatchClient.Create(settings));
        _tasks = new Lazy<ITaskApi>(() => StepFunctionsClient.Create(settings));
        _store = new Lazy<IJobStore>(() => DynamoJobStore.Create(settings, clock));
        Clock = clock;
        Timing = Timing.FromSettings(settings.Value);
        _answers = new Lazy<Failures.AnswerSettings>(() => Failures.AnswerSettings.ForFunctions(settings));
        Budget = int.TryParse(settings.Value("BATCHSYNC_INVOCATION_BUDGET_SECONDS"), out var seconds) && seconds > 0
            ? TimeSpan.FromSeconds(seconds)
            : null;
    }

    /// <summary>How long one invocation may spend on calls before failing cleanly (null: no limit but the calls' own).</summary>
    public TimeSpan? Budget { get; }

    public static FunctionHost FromEnvironment() => new(AwsSettings.FromEnvironment(), TimeProvider.System);

    public string Namespace { get; }
    public TimeProvider Clock { get; }
    public Timing Timing { get; }
    private readonly Lazy<IBatchApi> _batch;
    private readonly Lazy<ITaskApi> _tasks;
    private readonly Lazy<IJobStore> _store;

    public IBatchApi Batch => _batch.Value;
    public ITaskApi Tasks => _tasks.Value;
    public IJobStore Store => _store.Value;
    private readonly Lazy<Failures.AnswerSettings> _answers;
    /// <summary>How failed jobs are answered (the stack's failure error name, the opt-in extras' clients).</summary>
    public Failures.AnswerSettings Answers => _answers.Value;

    /// <summary>Reads the invocation payload, runs the core, writes its answer; logs a failure once and lets it surface.</summary>
    public async Task<Stream> RunAsync<T>(string function, Stream input, Func<ReadOnlyMemory<byte>, CancellationToken, Task<T>> core, JsonTypeInfo<T> answerType)
    {
        var payload = await ReadAllAsync(input).ConfigureAwait(false);
        using var budget = Budget is { } b ? InvocationBudget.Start(b, Clock) : null;
        using var deadline = Budget is { } limit ? new CancellationTokenSource(limit, Clock) : new CancellationTokenSource();
        try
        {
            var answer = await core(payload, deadline.Token).ConfigureAwait(false);
            return new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(answer, answerType), writable: false);
        }
        catch (BatchSyncException e)
        {
            Log.Error(e, "{Function} failed: {ErrorName}", function, e.ErrorName);
            throw;
        }
        catch (Exception e) when (FailureKinds.IsDependencyFailure(e))
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
