using System.Text;
using BatchSync.Composition;
using BatchSync.Aws;
using BatchSync.Logging;
using BatchSync.Domain;

namespace BatchSync.Tests;

/// <summary>
/// A function's constructor creates no AWS client, and a path creates only the clients it calls, when it calls them
/// (issue 10, item 4: cold start). The clients themselves are the real ones, pointed at a port nobody listens on.
/// </summary>
[Collection(LogCapture.Collection)]
public class LazyClientTests
{
    static LazyClientTests()
    {
        // The clients resolve credentials through the SDK's default chain, which reads the process environment.
        foreach (var (name, value) in new[] { ("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test") })
        {
            if (Environment.GetEnvironmentVariable(name) is null)
            {
                Environment.SetEnvironmentVariable(name, value);
            }
        }
    }

    private static FunctionHost Host(Dictionary<string, string?>? extra = null)
    {
        var env = new Dictionary<string, string?>
        {
            ["AWS_REGION"] = "us-east-1", ["BATCHSYNC_NAMESPACE"] = "ns", ["BATCHSYNC_TABLE"] = "t",
            // Nothing listens on port 1: every call fails at once with "connection refused".
            ["AWS_ENDPOINT_URL"] = "http://127.0.0.1:1", ["BATCHSYNC_ATTEMPT_TIMEOUT_MS"] = "2000",
        };
        foreach (var (k, v) in extra ?? [])
        {
            env[k] = v;
        }
        return new FunctionHost(new AwsSettings(n => env.GetValueOrDefault(n)), TimeProvider.System);
    }

    [Fact]
    public void Constructing_each_function_creates_no_client()
    {
        var host = Host();
        _ = new SubmitJob.Function(host);
        _ = new JobStateChange.Function(host);
        _ = new Callback.Function(host);
        _ = new Reconcile.Function(host);
        Assert.Empty(host.CreatedClients);
    }

    [Fact]
    public async Task Input_refused_before_any_call_creates_no_client()
    {
        var host = Host();
        var function = new SubmitJob.Function(host);
        using var quiet = Quiet();
        await Assert.ThrowsAsync<InvalidInputException>(() => function.HandleAsync(Payload("""{"JobName":"x"}""")));
        Assert.Empty(host.CreatedClients);
    }

    [Fact]
    public async Task A_callback_creates_only_the_table_client()
    {
        var host = Host();
        var function = new Callback.Function(host);
        using var quiet = Quiet();
        // The record lookup is the first call; it fails (nobody listens), so nothing after it runs.
        await Assert.ThrowsAsync<TransientFailureException>(() => function.HandleAsync(Payload("""{"JobId":"job-1","Result":{"Rows":1}}""")));
        Assert.Equal(["DynamoDB"], host.CreatedClients);
    }

    [Fact]
    public async Task A_submit_without_a_token_creates_only_the_Batch_client()
    {
        var host = Host();
        var function = new SubmitJob.Function(host);
        using var quiet = Quiet();
        await Assert.ThrowsAsync<TransientFailureException>(() =>
            function.HandleAsync(Payload("""{"JobName":"x","JobQueue":"q","JobDefinition":"d"}""")));
        Assert.Equal(["Batch"], host.CreatedClients);
    }

    [Fact]
    public async Task Each_stand_in_makes_its_client_once_on_the_first_call_even_when_called_at_once()
    {
        var made = 0;
        var log = new CallLog();
        var store = new LazyRecordStore(() =>
        {
            Interlocked.Increment(ref made);
            Thread.Sleep(20);
            return new InMemoryRecordStore(log);
        });
        Assert.Equal(0, made);
        Assert.False(store.IsCreated);
        await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() => store.GetAsync($"k{i}"))));
        Assert.Equal(1, made);
        Assert.True(store.IsCreated);

        var batchMade = 0;
        var batch = new LazyBatchApi(() => { batchMade++; return new FakeBatch(log); });
        var tasks = new LazyStepFunctionsApi(() => { batchMade += 10; return new FakeStepFunctions(log); });
        Assert.Equal(0, batchMade);
        await tasks.SendTaskHeartbeatAsync("token");
        Assert.Equal(10, batchMade);
        Assert.False(batch.IsCreated);
    }

    [Fact]
    public void A_client_that_could_not_be_made_is_tried_again_on_the_next_call()
    {
        var attempts = 0;
        var value = new OnFirstUse<string>(() => ++attempts == 1 ? throw new InvalidOperationException("not yet") : "made");
        Assert.Throws<InvalidOperationException>(() => value.Value);
        Assert.False(value.IsCreated);
        Assert.Equal("made", value.Value);
        Assert.Equal("made", value.Value);
        Assert.Equal(2, attempts);
    }

    [Fact]
    public void The_log_tail_client_is_made_only_when_a_tail_is_read()
    {
        var host = Host();
        Assert.IsType<LazyLogsApi>(host.Answers.Logs);
        Assert.False(((LazyLogsApi)host.Answers.Logs!).IsCreated);
    }

    private static MemoryStream Payload(string json) => new(Encoding.UTF8.GetBytes(json));

    private static IDisposable Quiet()
    {
        var previous = Log.Sink;
        Log.Sink = TextWriter.Null;
        return new Restore(() => Log.Sink = previous);
    }

    private sealed class Restore(Action restore) : IDisposable
    {
        public void Dispose() => restore();
    }
}
