using BatchSync.Composition;
using BatchSync.Processing;

namespace BatchSync.JobStateChange;

/// <summary>
/// Triggered by EventBridge "Batch Job State Change" events of BatchSync's jobs; answers the waiting task.
/// Handler: <c>BatchSync.JobStateChange::BatchSync.JobStateChange.Function::HandleAsync</c>.
/// </summary>
public sealed class Function
{
    private readonly FunctionHost _host;
    private readonly JobEventProcessor _processor;

    public Function() : this(FunctionHost.FromEnvironment())
    {
    }

    public Function(FunctionHost host)
    {
        _host = host;
        _processor = host.JobEvents();
    }

    public Task<Stream> HandleAsync(Stream input) =>
        _host.RunAsync("JobStateChange", input, (payload, cancel) => _processor.HandleAsync(payload, cancel));
}
