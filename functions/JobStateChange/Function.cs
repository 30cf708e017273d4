using BatchSync.Processing;

namespace BatchSync.JobStateChange;

/// <summary>
/// Triggered by EventBridge "Batch Job State Change" events of BatchSync's jobs; answers the waiting task.
/// Handler: <c>BatchSync.JobStateChange::BatchSync.JobStateChange.Function::HandleAsync</c>.
/// </summary>
public sealed class Function
{
    private readonly JobEventProcessor _processor;

    public Function() : this(FunctionHost.FromEnvironment())
    {
    }

    public Function(FunctionHost host) =>
        _processor = new JobEventProcessor(host.Batch, host.Tasks, host.Store, host.Namespace);

    public Task<Stream> HandleAsync(Stream input) =>
        FunctionHost.RunAsync("JobStateChange", input, payload => _processor.HandleAsync(payload), AnswerJsonContext.Default.EventAnswer);
}
