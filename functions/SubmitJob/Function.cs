using BatchSync.Processing;
using BatchSync.Domain;

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
        _submitter = new JobSubmitter(host.Batch, host.StepFunctions, host.Store, host.Namespace, host.Clock, host.Timing)
        {
            Permissions = SubmitPermissions.FromLists(Environment.GetEnvironmentVariable(SubmitPermissions.QueuesVariable),
                Environment.GetEnvironmentVariable(SubmitPermissions.DefinitionsVariable)),
        };
    }

    public Task<Stream> HandleAsync(Stream input) =>
        _host.RunAsync("SubmitJob", input, (payload, cancel) => _submitter.SubmitAsync(payload, cancel));
}
