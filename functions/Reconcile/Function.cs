using BatchSync.Composition;
using BatchSync.Processing;

namespace BatchSync.Reconcile;

/// <summary>
/// Triggered by "Step Functions Execution Status Change" events (ABORTED, TIMED_OUT, FAILED) and by the sweep
/// schedule. Handler: <c>BatchSync.Reconcile::BatchSync.Reconcile.Function::HandleAsync</c>.
/// </summary>
public sealed class Function
{
    private readonly FunctionHost _host;
    private readonly Reconciler _reconciler;

    public Function() : this(FunctionHost.FromEnvironment())
    {
    }

    public Function(FunctionHost host)
    {
        _host = host;
        _reconciler = host.Reconciler();
    }

    public Task<Stream> HandleAsync(Stream input) =>
        _host.RunAsync("Reconcile", input, (payload, cancel) => _reconciler.HandleAsync(payload, cancel));
}
