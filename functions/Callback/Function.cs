using BatchSync.Composition;
using BatchSync.Processing;

namespace BatchSync.Callback;

/// <summary>
/// Invoked by a job's own code to report a result, a heartbeat or a failure.
/// Handler: <c>BatchSync.Callback::BatchSync.Callback.Function::HandleAsync</c>.
/// </summary>
public sealed class Function
{
    private readonly FunctionHost _host;
    private readonly CallbackProcessor _processor;

    public Function() : this(FunctionHost.FromEnvironment())
    {
    }

    public Function(FunctionHost host)
    {
        _host = host;
        _processor = host.Callbacks();
    }

    public Task<Stream> HandleAsync(Stream input) =>
        _host.RunAsync("Callback", input, (payload, cancel) => _processor.HandleAsync(payload, cancel));
}
