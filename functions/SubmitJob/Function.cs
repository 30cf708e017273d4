using BatchSync.Composition;
using BatchSync.Processing;

namespace BatchSync.SubmitJob;

/// <summary>
/// Invoked by a state machine with the native <c>batch:submitJob</c> fields (plus TaskToken for
/// <c>lambda:invoke.waitForTaskToken</c>). Handler: <c>BatchSync.SubmitJob::BatchSync.SubmitJob.Function::HandleAsync</c>.
/// </summary>
public sealed class Function
{
    private readonly FunctionHost _host;
    private readonly JobSubmitter _submitter;

    public Function() : this(FunctionHost.FromEnvironment())
    {
    }

    public Function(FunctionHost host)
    {
        _host = host;
        _submitter = host.Submitter();
    }

    public Task<Stream> HandleAsync(Stream input) =>
        _host.RunAsync("SubmitJob", input, (payload, cancel) => _submitter.SubmitAsync(payload, cancel));
}
